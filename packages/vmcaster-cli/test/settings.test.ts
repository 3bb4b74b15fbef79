import { describe, expect, it } from 'vitest';
import { findConfigFile, resolveSettings } from '../src/settings.js';

describe('resolveSettings', () => {
  it('defaults as the seeds document', () => {
    const s = resolveSettings({}, { HOME: '/home/u' });
    expect(s).toMatchObject({
      database: 'sqlite:///vmcaster.db',
      x509Cert: '/home/u/.globus/usercert.pem',
      x509Key: '/home/u/.globus/userkey.pem',
      lifetimeDays: 28,
      configFileCandidates: ['/home/u/.vmcaster.cfg', '/etc/vmcaster/vmcaster.cfg'],
    });
    expect(s.configFile).toBeUndefined();
  });
  it('VMCASTER_* beat DISH_*, options beat both', () => {
    const env = {
      HOME: '/h',
      VMCASTER_RDBMS: 'sqlite:///a.db',
      DISH_RDBMS: 'sqlite:///b.db',
      DISH_CFG: '/dish.cfg',
      DISH_KEY: '/dk.pem',
      DISH_CERT: '/dc.pem',
      VMCASTER_IMAGELIST_LIFETIME: '3',
    };
    expect(resolveSettings({}, env)).toMatchObject({
      database: 'sqlite:///a.db',
      configFile: '/dish.cfg',
      x509Key: '/dk.pem',
      x509Cert: '/dc.pem',
      lifetimeDays: 3,
    });
    expect(
      resolveSettings({ database: 'sqlite:///c.db', configFile: '/c.cfg', x509Key: '/k' }, env),
    ).toMatchObject({
      database: 'sqlite:///c.db',
      configFile: '/c.cfg',
      x509Key: '/k',
    });
    expect(resolveSettings({}, { HOME: '/h', DISH_RDBMS: 'sqlite:///dish.db' }).database).toBe(
      'sqlite:///dish.db',
    );
    expect(resolveSettings({}, { HOME: '/h', VMCASTER_X509_DIR: '/x' }).x509Cert).toBe('/x/usercert.pem');
  });
  it('--p12-cert names the signing certificate as PKCS#12; DISH_CERT may name a .p12', () => {
    expect(resolveSettings({ p12Cert: '/me.p12' }, { HOME: '/h', DISH_CERT: '/dc.pem' })).toMatchObject({
      x509Cert: '/me.p12',
      pkcs12: true,
    });
    expect(resolveSettings({}, { HOME: '/h', DISH_CERT: '/grid.p12' })).toMatchObject({
      x509Cert: '/grid.p12',
      pkcs12: false, // recognised by its name when loaded
    });
  });
  it('rejects a bad lifetime', () => {
    expect(() => resolveSettings({ lifetimeDays: '0' }, {})).toThrow(/lifetime/);
    expect(() => resolveSettings({ lifetimeDays: 'x' }, {})).toThrow(/lifetime/);
  });
  it('finds ~/.vmcaster.cfg before /etc/vmcaster/vmcaster.cfg', () => {
    const s = resolveSettings({}, { HOME: '/h' });
    expect(findConfigFile(s, (p) => p === '/etc/vmcaster/vmcaster.cfg')).toBe('/etc/vmcaster/vmcaster.cfg');
    expect(findConfigFile(s, () => true)).toBe('/h/.vmcaster.cfg');
    expect(findConfigFile(s, () => false)).toBeUndefined();
  });
});
