// The services the installed commands are run against (PostgreSQL, sshd: scripts/start-*.sh, unless CI started
// them), and a build of every package (unless CI built them): what is packed is each package's dist/.
import { buildPackages, startService } from '@hepix/test-support';

export default function setup(): void {
  startService('start-postgres.sh', 'TEST_POSTGRES_URL');
  startService('start-sshd.sh', 'TEST_SSH_HOST');
  buildPackages();
}
