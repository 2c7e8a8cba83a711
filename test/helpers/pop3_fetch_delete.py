"""Logs in with Python's poplib, RETRs every message, DELEs each unless `keep`, QUITs; prints JSON.

usage: pop3_fetch_delete.py PORT USER PASSWORD [keep] [SOURCE_IP]
"""
import json, poplib, socket, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
keep = len(sys.argv) > 4 and sys.argv[4] == 'keep'
source = sys.argv[5] if len(sys.argv) > 5 else None


class Pop(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, (source, 0) if source else None)


p = Pop('127.0.0.1', port, timeout=30)
out = {}
try:
    p.user(user)
    out['auth'] = p.pass_(password).decode()
except poplib.error_proto as e:
    out['auth'] = str(e)
    print(json.dumps(out))
    sys.exit(0)
count, _ = p.stat()
out['uidl'] = [l.decode() for l in p.uidl()[1]]
for i in range(1, count + 1):
    p.retr(i)
    if not keep:
        p.dele(i)
out['quit'] = p.quit().decode()
print(json.dumps(out))
