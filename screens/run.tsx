// Placeholder until the console lands.
export async function runConsole(_command: string, _args: string[]): Promise<number> {
  process.stderr.write('vmail: the console is not built yet\n');
  return 1;
}
