"""Work done by Python code, counted as executed lines: a measure of cost that does not depend
on how loaded the machine is, so "linear in the input" can be asserted without timing.

    with StepBudget(deframer_module, limit=20 * len(stream)) as steps:
        run()
    assert steps.count <= ...

Counting stops the run with BudgetExceeded as soon as `limit` is passed, so a regression to
quadratic work fails quickly instead of running for minutes.
"""
import sys


class BudgetExceeded(AssertionError):
    pass


class StepBudget:
    def __init__(self, module, limit):
        self.filename = module.__file__
        self.limit = limit
        self.count = 0

    def _local(self, frame, event, arg):
        if event == "line":
            self.count += 1
            if self.count > self.limit:
                raise BudgetExceeded("more than %d lines executed in %s"
                                     % (self.limit, self.filename))
        return self._local

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename == self.filename:
            return self._local
        return None

    def __enter__(self):
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)
        return False
