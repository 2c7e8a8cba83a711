"""Sends N messages at once with smtplib: N clients connect and give MAIL and RCPT, then all
send DATA together (a barrier), so the deliveries race. Prints a JSON list, one per client:
its marker, the RCPT code, and the DATA code (null when RCPT was refused).

usage: smtp_burst.py PORT[,PORT...] FROM TO N TAG BODY_LINES
"""
import json, smtplib, sys, threading

ports = [int(p) for p in sys.argv[1].split(',')]
sender, rcpt, n, tag, lines = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
barrier = threading.Barrier(n, timeout=60)
out = [None] * n


def client(i):
    marker = f'{tag}-{i}-marker'
    msg = (f'From: {sender}\r\nTo: {rcpt}\r\nSubject: {marker}\r\n\r\n' + ('q' * 99 + '\r\n') * lines).encode()
    s = smtplib.SMTP('127.0.0.1', ports[i % len(ports)], timeout=60)
    s.ehlo()
    s.mail(sender)
    code = s.rcpt(rcpt)[0]
    barrier.wait()
    data = None
    if code == 250:
        try:
            data = s.data(msg)[0]
        except smtplib.SMTPResponseException as e:
            data = e.smtp_code
    s.quit()
    out[i] = {'marker': marker, 'rcpt': code, 'data': data}


threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
