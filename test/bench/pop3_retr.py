"""Times one POP3 session that RETRs messages 1..COUNT with Python's poplib; prints seconds.
With TOP_LINES, it sends TOP n TOP_LINES for each message instead.

usage: pop3_retr.py PORT USER PASSWORD COUNT [TOP_LINES]
"""
import poplib, sys, time

port, user, password, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
top = int(sys.argv[5]) if len(sys.argv) > 5 else None
t0 = time.perf_counter()
p = poplib.POP3('127.0.0.1', port, timeout=60)
p.user(user)
p.pass_(password)
for i in range(1, count + 1):
    if top is None:
        p.retr(i)
    else:
        p.top(i, top)
p.quit()
print(time.perf_counter() - t0)
