"""The station's business library: customers, areas, tariffs, billing, statements, the ledger,
payments, arrears, statistics, alarms and users.

Both `conc station ...` commands and the browser console call it; no business rule lives in a
click command or a web handler. Functions take a SQLAlchemy Connection (the caller owns the
transaction: `with engine.begin() as conn:`), money is integer fen inside and Decimal at the
edges, and every change of money or of a relay is made by an authenticated `users.User`.
"""
