import { describe, expect, it } from 'vitest';
import { parseStoreUrl, redactUrl, StoreError } from '../src/index.js';

const pathOf = (url: string, cwd?: string) => (parseStoreUrl(url, cwd) as { path: string }).path;

describe('parseStoreUrl', () => {
  it('takes the SQLAlchemy forms the original tools documented', () => {
    expect(parseStoreUrl('sqlite:///vmcatcher.db', '/var/lib/x')).toEqual({
      dialect: 'sqlite',
      path: '/var/lib/x/vmcatcher.db',
      url: 'sqlite:///vmcatcher.db',
    });
    expect(pathOf('sqlite:///var/lib/vmcatcher/vmcatcher.db', '/home/u')).toBe(
      '/home/u/var/lib/vmcatcher/vmcatcher.db',
    );
    expect(pathOf('sqlite:////var/lib/vmcatcher/vmcatcher.db', '/home/u')).toBe(
      '/var/lib/vmcatcher/vmcatcher.db',
    );
    expect(pathOf('sqlite://')).toBe(':memory:');
    expect(pathOf('sqlite:///:memory:')).toBe(':memory:');
    expect(pathOf('sqlite+pysqlite:////tmp/a.db')).toBe('/tmp/a.db');
    expect(pathOf('sqlite:///dir%20with%20space/a.db', '/r')).toBe('/r/dir with space/a.db');
  });

  it('takes postgresql:// and postgres:// (and a +driver suffix), and hides the password', () => {
    const a = parseStoreUrl('postgresql://vm:s3cret@db.example.org:5433/vmcatcher');
    expect(a).toEqual({
      dialect: 'postgres',
      connectionString: 'postgresql://vm:s3cret@db.example.org:5433/vmcatcher',
      url: 'postgresql://vm:***@db.example.org:5433/vmcatcher',
    });
    expect(parseStoreUrl('postgres://localhost/x').dialect).toBe('postgres');
    expect(
      (parseStoreUrl('postgresql+psycopg2://u@h/d') as { connectionString: string }).connectionString,
    ).toBe('postgresql://u@h/d');
    expect(redactUrl('postgres://u:p@h/d')).toBe('postgres://u:***@h/d');
  });

  it.each([
    '',
    'vmcatcher.db',
    'mysql://u@h/d',
    'sqlite:/relative.db',
    'sqlite://host/file.db',
    'postgresql://',
    'http://example.org/',
  ])('refuses %j with ERR_STORE_URL naming the accepted forms', (url) => {
    let err: unknown;
    try {
      parseStoreUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('ERR_STORE_URL');
    expect((err as StoreError).message).toContain('sqlite:////absolute/path.db');
    expect((err as StoreError).message).toContain('postgresql://');
  });

  it('never puts a password in the error', () => {
    try {
      parseStoreUrl('mysql://user:topsecret@h/d');
    } catch (e) {
      expect((e as Error).message).not.toContain('topsecret');
      expect((e as StoreError).url).toBe('mysql://user:***@h/d');
    }
  });
});
