"""Verifies a message's DKIM signature, or its ARC chain, with dkimpy (Debian's python3-dkim),
answering the DNS lookup of the selector's TXT record with the record given, as a resolver would.

usage: /usr/bin/python3 dkim_verify.py dkim|arc RECORD_NAME RECORD_VALUE < message
prints JSON: dkim: {"ok": bool, "domain": the d= tag, "selector": the s= tag}
             arc:  {"cv": the chain's validation result, "comment": why}
"""
import json, sys
import dkim

mode, name, value = sys.argv[1], sys.argv[2], sys.argv[3]
message = sys.stdin.buffer.read()

def dnsfunc(qname, timeout=5):
    q = qname.decode() if isinstance(qname, bytes) else qname
    return value.encode() if q.rstrip('.') == name else None

if mode == 'arc':
    cv, results, comment = dkim.arc_verify(message, dnsfunc=dnsfunc)
    print(json.dumps({'cv': cv.decode(), 'comment': comment}))
else:
    sig = dkim.DKIM(message)
    try:
        ok = sig.verify(dnsfunc=dnsfunc)
    except dkim.ValidationError:
        # A body hash that does not match is raised rather than returned: it fails all the same.
        ok = False
    print(json.dumps({'ok': bool(ok), 'domain': (sig.domain or b'').decode(), 'selector': (sig.selector or b'').decode()}))
