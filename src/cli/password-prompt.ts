// A new password for an account, asked for without echoing it on the terminal (twice), or read
// from one line of stdin for scripts (--password-stdin).
import { InputError } from '../model/errors.js';

/** One line from stdin: the trailing line break is not part of the password. */
export async function readPasswordLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if ((chunk as Buffer).includes(10) || total > 4096) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl >= 0 ? text.slice(0, nl) : text).replace(/\r$/, '');
}

/**
 * Asks on the terminal without echo, twice. Arrow keys and other escape sequences are ignored;
 * Backspace deletes, Ctrl-U clears, Ctrl-C cancels, Ctrl-D on an empty line cancels.
 */
export async function promptPassword(address: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    throw new InputError('no terminal to ask for the password on: pass --password-stdin and send it on stdin');
  const ask = (question: string) =>
    new Promise<string>((resolve, reject) => {
      process.stderr.write(question);
      let value = '';
      stdin.setRawMode(true);
      stdin.resume();
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
      };
      const onData = (buf: Buffer) => {
        const text = buf.toString('utf8').replace(/\u001b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?/g, '');
        for (const ch of text) {
          if (ch === '\r' || ch === '\n') {
            done();
            return resolve(value);
          }
          if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
            done();
            return reject(new InputError('cancelled: nothing was changed'));
          }
          if (ch === '\u0015') value = '';
          else if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
          else if (ch >= ' ') value += ch;
        }
      };
      stdin.on('data', onData);
    });
  const first = await ask(`New password for ${address}: `);
  const second = await ask('Again: ');
  if (first !== second) throw new InputError('the two passwords differ: nothing was changed');
  return first;
}
