"""Verifies a message's DKIM signature with dkimpy (Debian's python3-dkim), answering the DNS
lookup of the selector's TXT record with the record given, as a resolver would.

usage: /usr/bin/python3 dkim_verify.py RECORD_NAME RECORD_VALUE < message
prints JSON: {"ok": bool, "domain": the d= tag, "selector": the s= tag}
"""
import json, sys
import dkim

name, value = sys.argv[1], sys.argv[2]
message = sys.stdin.buffer.read()

def dnsfunc(qname, timeout=5):
    q = qname.decode() if isinstance(qname, bytes) else qname
    return value.encode() if q.rstrip('.') == name else None

sig = dkim.DKIM(message)
ok = sig.verify(dnsfunc=dnsfunc)
print(json.dumps({'ok': bool(ok), 'domain': (sig.domain or b'').decode(), 'selector': (sig.selector or b'').decode()}))
