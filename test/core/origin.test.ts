import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOriginCheck, parseHost, parseOrigin } from '../../src/core/origin.js';
import { AuthError } from '../../src/errors.js';

function refusedWith(fn: () => void, detail?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AuthError);
    assert.equal(err.code, 'origin_not_allowed');
    assert.equal(err.status, 403);
    if (detail !== undefined) assert.match(err.detail ?? '', detail);
    return true;
  });
}

describe('parseOrigin', () => {
  it('lower-cases scheme and host and drops default ports', () => {
    assert.equal(parseOrigin('HTTPS://App.Example.COM')?.origin, 'https://app.example.com');
    assert.equal(parseOrigin('https://app.example.com:443')?.origin, 'https://app.example.com');
    assert.equal(parseOrigin('http://app.example.com:80')?.origin, 'http://app.example.com');
    assert.equal(parseOrigin('https://app.example.com:80')?.origin, 'https://app.example.com:80');
    assert.equal(parseOrigin('wss://x.test:443')?.origin, 'wss://x.test');
    assert.equal(parseOrigin('http://[::1]:8080')?.origin, 'http://[::1]:8080');
  });

  it('keeps a trailing dot in the host', () => {
    assert.equal(parseOrigin('https://app.example.com.')?.origin, 'https://app.example.com.');
  });

  it('rejects anything that is not scheme://host[:port]', () => {
    for (const bad of [
      'null',
      '',
      'app.example.com',
      'https://app.example.com/',
      'https://evil.com/https://app.example.com',
      'https://app.example.com@evil.com',
      'https://user:pw@app.example.com',
      'https://app.example.com?x=1',
      'https://app.example.com#x',
      'https://app.example.com:99999',
      'https://app.example.com, https://evil.com',
      'https:///app.example.com',
      'https://app.example.com:',
      'https://app.example.com:0443',
      'http://app.example.com:03000',
    ]) {
      assert.equal(parseOrigin(bad), undefined, bad);
    }
  });
});

describe('parseHost', () => {
  it('defaults the port from the connection', () => {
    assert.deepEqual(parseHost('App.Example.com', true), { host: 'app.example.com', port: 443 });
    assert.deepEqual(parseHost('app.example.com', false), { host: 'app.example.com', port: 80 });
    assert.deepEqual(parseHost('127.0.0.1:3000', false), { host: '127.0.0.1', port: 3000 });
    assert.equal(parseHost('a/b', false), undefined);
  });
});

describe('createOriginCheck with an allowlist', () => {
  const check = createOriginCheck({ origins: ['https://app.example.com', 'http://localhost:3000'] });

  it('allows listed origins after normalisation (mixed case, default port)', () => {
    check('https://app.example.com', 'ws.example.com', true);
    check('HTTPS://APP.EXAMPLE.COM', undefined, false);
    check('https://app.example.com:443', undefined, false);
    check('http://LOCALHOST:3000', undefined, false);
  });

  it('refuses look-alikes: suffixes, paths, userinfo, trailing dot, other ports and schemes', () => {
    refusedWith(() => check('https://app.example.com.evil.com', undefined, true), /allowlist/);
    refusedWith(() => check('https://evil.com/https://app.example.com', undefined, true), /malformed/);
    refusedWith(() => check('https://app.example.com@evil.com', undefined, true));
    refusedWith(() => check('https://app.example.com.', undefined, true));
    refusedWith(() => check('https://app.example.com:8443', undefined, true));
    refusedWith(() => check('http://app.example.com', undefined, true));
    refusedWith(() => check('https://evilapp.example.com', undefined, true));
    refusedWith(() => check('http://localhost:30000', undefined, true));
  });

  it("refuses 'null' unless allowNull", () => {
    refusedWith(() => check('null', 'app.example.com', true), /null/);
    createOriginCheck({ origins: ['https://app.example.com'], allowNull: true })('null', undefined, true);
  });

  it('allows a missing Origin unless requireOrigin', () => {
    check(undefined, 'app.example.com', true);
    const strict = createOriginCheck({ origins: ['https://app.example.com'], requireOrigin: true });
    refusedWith(() => strict(undefined, 'app.example.com', true), /missing/);
  });

  it('throws TypeError on entries that are not bare origins', () => {
    assert.throws(() => createOriginCheck({ origins: ['https://app.example.com/'] }), TypeError);
    assert.throws(() => createOriginCheck({ origins: ['app.example.com'] }), TypeError);
    assert.throws(() => createOriginCheck({ origins: ['null'] }), TypeError);
    assert.throws(() => createOriginCheck({ origins: 'https://app.example.com' as never }), TypeError);
    assert.throws(() => createOriginCheck({ allowNull: 'yes' as never }), TypeError);
  });
});

describe('createOriginCheck without an allowlist (same-origin)', () => {
  const check = createOriginCheck();

  it('allows the Host of the request with the scheme of the connection', () => {
    check('https://app.example.com', 'app.example.com', true);
    check('https://app.example.com', 'APP.example.com:443', true);
    check('http://127.0.0.1:3000', '127.0.0.1:3000', false);
  });

  it('refuses another host, port or scheme, and a missing Host', () => {
    refusedWith(() => check('https://evil.com', 'app.example.com', true), /same-origin/);
    refusedWith(() => check('https://app.example.com.evil.com', 'app.example.com', true));
    refusedWith(() => check('https://app.example.com.', 'app.example.com', true));
    refusedWith(() => check('http://app.example.com', 'app.example.com', true));
    refusedWith(() => check('https://app.example.com', 'app.example.com', false));
    refusedWith(() => check('http://127.0.0.1:3001', '127.0.0.1:3000', false));
    refusedWith(() => check('https://app.example.com', undefined, true));
    refusedWith(() => check('null', 'app.example.com', true));
  });
});

describe('createOriginCheck opt-outs', () => {
  it("'*' allows any origin but still refuses null by default", () => {
    const any = createOriginCheck({ origins: '*' });
    any('https://anything.test', 'app.example.com', true);
    any(undefined, undefined, false);
    refusedWith(() => any('null', undefined, true));
  });

  it('a predicate gets the normalised origin', () => {
    const seen: string[] = [];
    const check = createOriginCheck({
      origins: (origin) => {
        seen.push(origin);
        return origin.endsWith('.example.com');
      },
    });
    check('HTTPS://A.Example.com:443', undefined, true);
    refusedWith(() => check('https://example.com.evil', undefined, true));
    refusedWith(() => check('https://x.example.com/path', undefined, true), /malformed/);
    assert.deepEqual(seen, ['https://a.example.com', 'https://example.com.evil']);
  });
});
