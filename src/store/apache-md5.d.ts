// Types for the packages that ship none.

declare module 'apache-md5' {
  /** MD5-crypt ($1$) or Apache's $apr1$ of `password` with the salt (or whole hash) given. */
  export default function md5(password: string, salt?: string): string;
}
