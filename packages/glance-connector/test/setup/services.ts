// Starts the real image service (glance-api noauth and keystone pipelines, Keystone; scripts/start-glance.sh)
// when CI has not already exported its variables, and builds the bins the end-to-end tests spawn (vmcatcher_*
// and vmcatcher-glance) unless CI built everything. A missing service is a failure, never a skip.
import { buildPackages, startService } from '@hepix/test-support';

export default function setup(): void {
  startService('start-glance.sh', 'TEST_GLANCE_URL');
  buildPackages(['@hepix/glance-connector...', '@hepix/vmcatcher-cli...']);
}
