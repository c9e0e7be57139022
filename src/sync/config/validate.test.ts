import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createValidator, formatForPath } from './validate.js';

test('format from the destination name', () => {
  assert.equal(formatForPath('/etc/app/c.json'), 'json');
  assert.equal(formatForPath('/etc/pillion/pillion.yaml'), 'yaml');
  assert.equal(formatForPath('/etc/app/nginx.conf'), 'raw');
});

test('refuses empty, unparseable and schema-failing configs; never quotes the content', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-val-'));
  const schema = join(dir, 's.json');
  await writeFile(schema, JSON.stringify({ type: 'object', required: ['port'], properties: { port: { type: 'integer' } } }));
  const v = createValidator('json', schema, false);
  assert.deepEqual(v(Buffer.from('{"port": 8080}')), { ok: true });
  const empty = v(Buffer.alloc(0));
  assert.equal(empty.ok, false);
  const broken = v(Buffer.from('{"password": "hunter2" x'));
  assert.equal(broken.ok, false);
  assert.ok(!broken.ok && !broken.reason.includes('hunter2'), broken.ok ? '' : broken.reason);
  const wrong = v(Buffer.from('{"port": "8080"}'));
  assert.ok(!wrong.ok && wrong.reason.includes('config/port must be integer'), wrong.ok ? '' : wrong.reason);
  const y = createValidator('yaml', schema, false);
  assert.deepEqual(y(Buffer.from('port: 1\n')), { ok: true });
  assert.equal(y(Buffer.from('port: [1\n')).ok, false);
  assert.equal(createValidator('raw', undefined, true)(Buffer.alloc(0)).ok, true);
  assert.equal(v(Buffer.from([0xff, 0xfe])).ok, false);
});

test('a schema that does not compile is an error at startup', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-val-'));
  const schema = join(dir, 's.json');
  await writeFile(schema, '{"type": 12}');
  assert.throws(() => createValidator('json', schema, false));
});

test('schemas declaring draft 2020-12 or 2019-09 compile with the matching draft', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-val-'));
  for (const draft of ['https://json-schema.org/draft/2020-12/schema', 'https://json-schema.org/draft/2019-09/schema', 'http://json-schema.org/draft-07/schema#']) {
    const schema = join(dir, 's.json');
    await writeFile(schema, JSON.stringify({ $schema: draft, type: 'object', required: ['listeners'] }));
    const v = createValidator('yaml', schema, false);
    assert.deepEqual(v(Buffer.from('listeners: []\n')), { ok: true }, draft);
    assert.equal(v(Buffer.from('clusters: []\n')).ok, false, draft);
  }
});
