// Starts the real services the tests use (sshd, nginx) when CI has not already started them and exported
// their variables, so `npx vitest run` works standalone. A missing service is a failure, never a skip.
import { startService } from '@hepix/test-support';

export default function setup(): void {
  startService('start-sshd.sh', 'TEST_SSH_HOST');
  startService('start-nginx.sh', 'TEST_DAV_URL');
}
