// A password hash from another server named in Dovecot's scheme notation ({SHA512-CRYPT}...),
// as vmail stores and checks it: for the Dovecot and vpopmail importers alike.

/** A crypt hash without a scheme (Dovecot's default CRYPT) named by its $id$. */
export function schemeOf(hash: string): string {
  const bare = hash.replace(/^\{CRYPT\}/i, '');
  if (bare.startsWith('{')) return hash;
  if (bare.startsWith('$6$')) return `{SHA512-CRYPT}${bare}`;
  if (bare.startsWith('$5$')) return `{SHA256-CRYPT}${bare}`;
  if (bare.startsWith('$1$')) return `{MD5-CRYPT}${bare}`;
  if (/^\$2[abxy]?\$/.test(bare)) return `{BLF-CRYPT}${bare}`;
  return hash;
}
