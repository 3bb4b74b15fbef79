/** A variable exported by scripts/start-*.sh (through CI or test/global-setup.ts); missing means failure. */
export function env(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run scripts/start-sshd.sh / scripts/start-nginx.sh (test/global-setup.ts does)`,
    );
  return v;
}
