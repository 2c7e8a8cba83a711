// Types for the packages that ship none: the part of unix-dgram that sd-notify.ts uses.

declare module 'unix-dgram' {
  interface UnixDgramSocket {
    on(event: string, listener: (...args: never[]) => void): void;
    connect(path: string): void;
    bind(path: string): void;
    send(buf: Buffer, callback: (err?: Error) => void): void;
    close(): void;
  }
  const unixDgram: { createSocket(type: 'unix_dgram', onMessage?: (buf: Buffer) => void): UnixDgramSocket };
  export default unixDgram;
}
