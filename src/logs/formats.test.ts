import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContainerLine, parseCri, parseDocker, podLabels, rfc3339ToNs } from './formats.js';
import { compileGlob, matches } from './glob.js';

describe('container line formats', () => {
  it('CRI: time, stream, P/F tag, message (empty and with more tags too)', () => {
    assert.deepEqual(parseCri('2016-10-06T00:17:09.669794202Z stdout F hello world'), { time: '2016-10-06T00:17:09.669794202Z', stream: 'stdout', partial: false, message: 'hello world' });
    assert.deepEqual(parseCri('2016-10-06T00:17:09.669794202Z stderr P part'), { time: '2016-10-06T00:17:09.669794202Z', stream: 'stderr', partial: true, message: 'part' });
    assert.equal(parseCri('2016-10-06T00:17:09.669794202Z stdout F')?.message, '');
    assert.equal(parseCri('2016-10-06T00:17:09.669794202Z stdout F:x  two spaces')?.message, ' two spaces');
    assert.equal(parseCri('plain text line'), null);
    assert.equal(parseCri('2016-10-06T00:17:09.669794202Z stdin F x'), null);
  });

  it('Docker json-file: a log without its newline is a partial piece', () => {
    assert.deepEqual(parseDocker('{"log":"hello\\n","stream":"stderr","time":"2019-01-01T00:00:00.123456789Z"}'), { time: '2019-01-01T00:00:00.123456789Z', stream: 'stderr', partial: false, message: 'hello' });
    assert.equal(parseDocker('{"log":"par","stream":"stdout","time":"t"}')?.partial, true);
    assert.equal(parseDocker('{"nolog":1}'), null);
    assert.equal(parseDocker('{broken'), null);
    assert.equal(parseContainerLine('auto', '{"log":"x\\n"}')?.message, 'x');
    assert.equal(parseContainerLine('auto', '2016-10-06T00:17:09Z stdout F y')?.message, 'y');
  });

  it('pod labels from the kubelet path', () => {
    assert.deepEqual(podLabels('/var/log/pods/kube-system_coredns-5d78c9869d-abcde_0d1e2f3a-1111-2222-3333-444455556666/coredns/0.log'), {
      namespace: 'kube-system', pod: 'coredns-5d78c9869d-abcde', pod_uid: '0d1e2f3a-1111-2222-3333-444455556666', container: 'coredns',
    });
    assert.equal(podLabels('/var/log/pods/nounderscore/c/0.log'), null);
  });

  it('RFC 3339 to Loki nanoseconds keeps all nine digits', () => {
    assert.equal(rfc3339ToNs('2016-10-06T00:17:09.669794202Z', 0), '1475713029669794202');
    assert.equal(rfc3339ToNs('2016-10-06T02:17:09.5+02:00', 0), '1475713029500000000');
    assert.equal(rfc3339ToNs('2016-10-06T00:17:09Z', 0), '1475713029000000000');
    assert.equal(rfc3339ToNs('', 1234), '1234000000');
  });
});

describe('globs', () => {
  it('base directory and per-segment matching', () => {
    const g = compileGlob('/var/log/pods/*/*/*.log');
    assert.equal(g.base, '/var/log/pods');
    assert.equal(g.segments.length, 3);
    assert.ok(g.full.test('/var/log/pods/ns_p_u/c/0.log'));
    assert.ok(!g.full.test('/var/log/pods/ns_p_u/c/0.log.20240101-000000'));
    const h = compileGlob('/a/**/{x,y}-[0-9].log');
    assert.equal(h.base, '/a');
    assert.ok(h.full.test('/a/x-1.log') && h.full.test('/a/b/c/y-2.log') && !h.full.test('/a/z-1.log'));
    assert.ok(matches([compileGlob('/tmp/app.log')], '/tmp/app.log'));
    assert.equal(compileGlob('/tmp/app.log').base, '/tmp');
  });
});
