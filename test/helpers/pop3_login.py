"""Logs in to a POP3 server with Python's poplib (USER/PASS, or AUTH PLAIN) and prints the
outcome as JSON: {"ok": true, "stat": [count, bytes]} or {"ok": false, "error": "..."}.

usage: pop3_login.py PORT USER PASSWORD [auth-plain]
The password may be given as hex with a leading "hex:" so any bytes survive the command line.
"""
import base64, json, poplib, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if password.startswith('hex:'):
    password = bytes.fromhex(password[4:]).decode('utf-8')
mode = sys.argv[4] if len(sys.argv) > 4 else 'user'
p = poplib.POP3('127.0.0.1', port, timeout=30)
p.encoding = 'utf-8'
try:
    if mode == 'auth-plain':
        token = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode('utf-8')).decode()
        p._shortcmd('AUTH PLAIN ' + token)
    else:
        p.user(user)
        p.pass_(password)
    out = {'ok': True, 'stat': list(p.stat())}
    p.quit()
except poplib.error_proto as e:
    out = {'ok': False, 'error': e.args[0].decode('utf-8', 'replace')}
    try:
        p.quit()
    except Exception:
        pass
print(json.dumps(out))
