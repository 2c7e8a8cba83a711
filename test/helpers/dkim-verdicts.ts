// mailauth's verdicts on a message's DKIM signatures, checked against given TXT records (the
// names and values `vmail domains dkim` or DkimKeys.views() publish) instead of the DNS.
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

/** TXT record name -> value. */
export type DkimRecords = Map<string, string>;

/** One verdict per signature, in order: "domain selector result" ("domain result" without the selector). */
export async function dkimVerdicts(records: DkimRecords, signed: Buffer, withSelector = true): Promise<string[]> {
  const resolver = async (name: string, type: string) => {
    const value = type === 'TXT' ? records.get(name) : undefined;
    if (!value) throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
    return [[value]];
  };
  const result = await dkimVerify(signed, { resolver } as Parameters<typeof dkimVerify>[1]);
  return result.results.map((r) =>
    withSelector ? `${r.signingDomain} ${r.selector} ${r.status.result}` : `${r.signingDomain} ${r.status.result}`,
  );
}
