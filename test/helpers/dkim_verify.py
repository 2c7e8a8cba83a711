"""Verifies a message's DKIM signatures, or its ARC chain, with dkimpy (Debian's python3-dkim),
answering the DNS lookups of the selectors' TXT records with the records given, as a resolver
would.

usage: /usr/bin/python3 dkim_verify.py dkim|arc RECORD_NAME RECORD_VALUE [NAME VALUE ...] < message
prints JSON: dkim: {"ok": every signature verifies, "domain": the first one's d= tag,
                    "selector": its s= tag, "signatures": [{"selector", "algorithm", "ok"}, ...]}
             arc:  {"cv": the chain's validation result, "comment": why}
"""
import json, sys
import dkim

mode = sys.argv[1]
records = dict(zip(sys.argv[2::2], sys.argv[3::2]))
message = sys.stdin.buffer.read()

def dnsfunc(qname, timeout=5):
    q = qname.decode() if isinstance(qname, bytes) else qname
    value = records.get(q.rstrip('.'))
    return value.encode() if value is not None else None

if mode == 'arc':
    cv, results, comment = dkim.arc_verify(message, dnsfunc=dnsfunc)
    print(json.dumps({'cv': cv.decode(), 'comment': comment}))
else:
    sig = dkim.DKIM(message)
    count = sum(1 for name, _ in dkim.rfc822_parse(message)[0] if name.lower() == b'dkim-signature')
    signatures = []
    for idx in range(max(count, 1)):
        one = dkim.DKIM(message)
        try:
            ok = one.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.ValidationError:
            # A body hash that does not match is raised rather than returned: it fails all the same.
            ok = False
        signatures.append({'selector': (one.selector or b'').decode(),
                           'algorithm': (one.signature_fields.get(b'a') or b'').decode() if one.signature_fields else '',
                           'ok': bool(ok)})
        if idx == 0:
            sig = one
    print(json.dumps({'ok': all(s['ok'] for s in signatures), 'domain': (sig.domain or b'').decode(),
                      'selector': (sig.selector or b'').decode(), 'signatures': signatures}))
