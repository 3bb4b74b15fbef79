// Starts the real image service (glance-api noauth and keystone pipelines, Keystone; scripts/start-glance.sh),
// the S3 server (OpenStack Swift's s3api; scripts/start-swift.sh) and RabbitMQ (scripts/start-rabbitmq.sh) of
// the s3:// cache tests when CI has not already exported their variables, and builds the bins the end-to-end
// tests spawn (vmcatcher_* and vmcatcher-glance) unless CI built everything. A missing service is a failure,
// never a skip.
import { buildPackages, startService } from '@hepix/test-support';

export default function setup(): void {
  startService('start-glance.sh', 'TEST_GLANCE_URL');
  startService('start-swift.sh', 'TEST_S3_ENDPOINT');
  startService('start-rabbitmq.sh', 'TEST_AMQP_URL');
  buildPackages(['@hepix/glance-connector...', '@hepix/vmcatcher-cli...']);
}
