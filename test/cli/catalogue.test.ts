/**
 * One catalogue: SECURITY.md's table is the catalogue's and every entry is complete.
 * (The audit can only report catalogue ids: `ProbeContext.finding` takes a `WeaknessId`.)
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { CATALOGUE, catalogueMarkdown, SEVERITIES } from '../../src/catalogue.js';

const root = new URL('../../', import.meta.url);

describe('the catalogue of weaknesses', () => {
  it("SECURITY.md carries the catalogue's table, unchanged (regenerate with `portcullis catalogue`)", async () => {
    const security = await readFile(new URL('SECURITY.md', root), 'utf8');
    const block = /<!-- catalogue:start -->\n([\s\S]*?)\n<!-- catalogue:end -->/.exec(security)?.[1];
    assert.ok(block !== undefined, 'SECURITY.md has the catalogue markers');
    assert.equal(block, catalogueMarkdown());
  });

  it('has unique ids of the form area.name, a known severity and every text filled', () => {
    const ids = CATALOGUE.map((w) => w.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const w of CATALOGUE) {
      assert.match(w.id, /^[a-z]+\.[a-z-]+$/);
      assert.ok(SEVERITIES.includes(w.severity));
      for (const text of [w.title, w.sent, w.safe, w.fix.portcullis, w.fix.without]) assert.ok(text.length > 5, `${w.id}: empty text`);
    }
  });
});
