// Public API of @hepix/test-support (private: test fixtures for the packages of this repository).
export {
  copyCertDir,
  type GridEndorser,
  issueCert,
  makePki,
  revoke,
  TEST_CA_SUBJECT,
  TEST_PASSPHRASE,
  type TestPki,
} from './grid.js';
export {
  fmtDate,
  type ImageSpec,
  type ListSpec,
  makeListJson,
  opensslVerify,
  type SignListOptions,
  sampleImages,
  signList,
  signWithOpenssl,
} from './lists.js';
export {
  OpensslError,
  type OpensslOptions,
  type OpensslResult,
  openssl,
  opensslEnv,
  runOpenssl,
} from './openssl.js';
export {
  type CaOptions,
  type CertOptions,
  copyTrustDir,
  type Digest,
  encryptKey,
  type KeyType,
  OpensslPki,
  type PolicyKind,
  type Profile,
  TestCa,
  TestCert,
  TrustDir,
  type TrustDirOptions,
  writeTrustCrl,
} from './pki.js';
export {
  type ImageServer,
  type Route,
  type ServedImage,
  startHttpServer,
  startHttpsServer,
  startImageServer,
  startProxy,
  type TestProxy,
  type TestServer,
} from './servers.js';
export {
  buildPackages,
  createTestDatabase,
  REPO_ROOT,
  startService,
  type TestDatabase,
} from './services.js';
export { makeTempDir, removeDir } from './tmp.js';
