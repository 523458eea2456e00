"""The business library's errors: each message says what was wrong and what to do."""


class BusinessError(Exception):
    """A rule of the billing office refused the request (bad input, unknown record, wrong state)."""


class NotFound(BusinessError):
    """No such customer, area, tariff, period, statement or case."""
