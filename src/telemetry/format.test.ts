// The Envoy operators and the JSON format, applied to a hand-built batch (what a data plane's flush does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENVOY_DEFAULT_FORMAT, FormatError, compileJson, compileText, compileTextWriter, type Captures } from './format.js';
import { LineWriter } from './line-writer.js';
import { NUM_COLS, Num, STR_COLS, Str, type Rows } from './record.js';

const START = Date.UTC(2026, 10, 26, 18, 0, 0, 123);

/** One-row batch; `req`/`resp` are the captured headers in the order the config collected them. */
function batch(caps: Captures, req: Record<string, string>, resp: Record<string, string>, over: Partial<Record<Num, number>> = {}): Rows & { headers: string[]; respHeaders: string[] } {
  const headers = [...caps.headers];
  const respHeaders = [...caps.respHeaders];
  const nums = new Float64Array(NUM_COLS);
  nums[Num.StartEpochMs] = START;
  nums[Num.DurationMs] = 12.6;
  nums[Num.Status] = 201;
  nums[Num.BytesReceived] = 5;
  nums[Num.BytesSent] = 42;
  nums[Num.UpstreamServiceMs] = 7.4;
  nums[Num.SinkMask] = 1;
  for (const [k, v] of Object.entries(over)) nums[Number(k)] = v;
  const strs = new Array<string>(STR_COLS + headers.length + respHeaders.length).fill('');
  strs[Str.Method] = 'POST';
  strs[Str.Path] = '/a/b?x=1';
  strs[Str.Protocol] = 'HTTP/1.1';
  strs[Str.ResponseFlags] = '';
  strs[Str.UpstreamHost] = '127.0.0.1:9000';
  strs[Str.UpstreamCluster] = 'app';
  strs[Str.DownstreamRemote] = '127.0.0.1';
  strs[Str.Route] = 'r1';
  headers.forEach((h, i) => { strs[STR_COLS + i] = req[h] ?? ''; });
  respHeaders.forEach((h, i) => { strs[STR_COLS + headers.length + i] = resp[h] ?? ''; });
  return { nums, strs, headers, respHeaders };
}

function text(format: string, req: Record<string, string> = {}, resp: Record<string, string> = {}, over: Partial<Record<Num, number>> = {}): string {
  const caps: Captures = { headers: new Set(), respHeaders: new Set() };
  compileText(format, caps, null);
  const b = batch(caps, req, resp, over);
  const f = compileText(format, null, { headers: b.headers, respHeaders: b.respHeaders });
  const line = f(b, 0, STR_COLS + b.headers.length + b.respHeaders.length);
  // What the data planes use: the same line, written as bytes.
  assert.equal(written(format, b), line);
  return line;
}

function written(format: string, b: Rows & { headers: string[]; respHeaders: string[] }, row = 0): string {
  const out = new LineWriter(8);
  compileTextWriter(format, { headers: b.headers, respHeaders: b.respHeaders })(out, b, row, STR_COLS + b.headers.length + b.respHeaders.length);
  return out.buf.toString('utf8', 0, out.pos);
}

test('Envoy default format: the line shape Envoy prints', () => {
  const line = text(ENVOY_DEFAULT_FORMAT, { 'user-agent': 'curl/8', 'x-request-id': 'abc', host: 'svc', 'x-forwarded-for': '10.0.0.1' });
  assert.equal(line, '[2026-11-26T18:00:00.123Z] "POST /a/b?x=1 HTTP/1.1" 201 - 5 42 12 7 "10.0.0.1" "curl/8" "abc" "svc" "127.0.0.1:9000"');
  // Missing headers print "-", as Envoy does.
  const bare = text(ENVOY_DEFAULT_FORMAT, {}, {}, { [Num.UpstreamServiceMs]: -1 });
  assert.match(bare, /^\[[^\]]+\] "POST \/a\/b\?x=1 HTTP\/1\.1" 201 - 5 42 12 - "-" "-" "-" "-" "127\.0\.0\.1:9000"$/);
});

test('operators: REQ(X?Y) falls back, :Z truncates, RESP reads response headers, the rest read columns', () => {
  assert.equal(text('%REQ(X-A?X-B)%', { 'x-b': 'second' }), 'second');
  assert.equal(text('%REQ(X-A?X-B)%', { 'x-a': 'first', 'x-b': 'second' }), 'first');
  assert.equal(text('%REQ(X-A):3%', { 'x-a': 'abcdef' }), 'abc');
  assert.equal(text('%REQ(:METHOD)% %REQ(:PATH)% %REQ(:AUTHORITY)%', { host: 'h' }), 'POST /a/b?x=1 h');
  assert.equal(text('%RESP(CONTENT-TYPE)%', {}, { 'content-type': 'text/plain' }), 'text/plain');
  assert.equal(text('%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%'), '7');
  assert.equal(text('%UPSTREAM_CLUSTER% %ROUTE_NAME% %DOWNSTREAM_REMOTE_ADDRESS% %PROTOCOL%'), 'app r1 127.0.0.1 HTTP/1.1');
  assert.equal(text('%RESPONSE_FLAGS%', {}, {}), '-');
  // Whole milliseconds, truncated as Envoy does (12.6 ms prints 12).
  assert.equal(text('%RESPONSE_CODE% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%'), '201 5 42 12');
  assert.equal(text('%REQ(X-REQUEST-ID)%', { 'x-request-id': 'id-1' }), 'id-1');
  assert.equal(text('literal %% only'), 'literal %% only');
});

test('START_TIME with a strftime format (UTC)', () => {
  assert.equal(text('%START_TIME%'), '2026-11-26T18:00:00.123Z');
  assert.equal(text('%START_TIME(%Y/%m/%dT%H:%M:%S%z)%'), '2026/11/26T18:00:00+0000');
  assert.equal(text('%START_TIME(%s)%'), String(Math.floor(START / 1000)));
  assert.equal(text('%START_TIME(%S.%3f)% %START_TIME(%6f)% %START_TIME(%f)%'), '00.123 123000 123000000');
  assert.equal(text('[%START_TIME(%H:%M)%] %RESPONSE_CODE%'), '[18:00] 201');
});

test('unknown operators, REQ without a header and unsupported START_TIME formats fail at config time', () => {
  const caps: Captures = { headers: new Set(), respHeaders: new Set() };
  assert.throws(() => compileText('%NOPE%', caps, null), FormatError);
  assert.throws(() => compileText('%REQ()%', caps, null), FormatError);
  assert.throws(() => compileText('%START_TIME(%Q)%', caps, null), /START_TIME\(%Q\)/);
});

test('JSON format: a lone operator keeps its type, mixed text is a string, missing values are null', () => {
  const fields = { status: '%RESPONSE_CODE%', ms: '%DURATION%', id: '%REQ(X-REQUEST-ID)%', ua: '%REQ(USER-AGENT)%', line: '%REQ(:METHOD)% %REQ(:PATH)%', ct: '%RESP(CONTENT-TYPE)%' };
  const caps: Captures = { headers: new Set(), respHeaders: new Set() };
  compileJson(fields, caps, null);
  assert.deepEqual([...caps.headers].sort(), ['user-agent', 'x-request-id']);
  assert.deepEqual([...caps.respHeaders], ['content-type']);
  const b = batch(caps, { 'x-request-id': 'r-9' }, { 'content-type': 'application/json' });
  const f = compileJson(fields, null, { headers: b.headers, respHeaders: b.respHeaders });
  assert.deepEqual(JSON.parse(f(b, 0, STR_COLS + b.headers.length + b.respHeaders.length)), {
    status: 201, ms: 12, id: 'r-9', ua: null, line: 'POST /a/b?x=1', ct: 'application/json',
  });
});

test('the byte writer prints what the string formatter prints, row after row', () => {
  const formats = [
    ENVOY_DEFAULT_FORMAT,
    '%START_TIME% %START_TIME(%s.%3f)% %DURATION% %RESPONSE_CODE% %BYTES_RECEIVED% %BYTES_SENT% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
    '%REQ(:PATH):6% %REQ(X-A?X-B)% %REQ(X-ENVOY-ORIGINAL-PATH)% %REQ(X-MISSING)% %RESP(CONTENT-TYPE)% %RESPONSE_FLAGS% %ROUTE_NAME%',
  ];
  const caps: Captures = { headers: new Set(), respHeaders: new Set() };
  for (const f of formats) compileText(f, caps, null);
  const rows: [Record<string, string>, Partial<Record<Num, number>>, string, string][] = [
    [{ 'x-b': 'b\u00e9\u{1F600}', 'user-agent': 'ua' }, {}, '/p', 'q=1'],
    [{ 'x-a': `${'a'.repeat(30)}\u00e9\u{1F600}` }, { [Num.UpstreamServiceMs]: -1, [Num.Status]: 0, [Num.DurationMs]: 0.4 }, '/', ''],
    [{}, { [Num.StartEpochMs]: START + 1000.9, [Num.BytesSent]: 1e21, [Num.BytesReceived]: NaN, [Num.Status]: NaN }, '', 'only-query'],
    [{ host: 'h\u00ff' }, { [Num.StartEpochMs]: START + 5, [Num.BytesSent]: 2 ** 53 + 2, [Num.DurationMs]: -3.5 }, '', ''],
  ];
  for (const f of formats) {
    for (const [req, over, path, query] of rows) {
      const b = batch(caps, req, {}, over);
      (b.strs as string[])[Str.Path] = path;
      (b.strs as string[])[Str.Query] = query;
      const line = compileText(f, null, { headers: b.headers, respHeaders: b.respHeaders })(b, 0, STR_COLS + b.headers.length + b.respHeaders.length);
      assert.equal(written(f, b), line, `${f} with ${JSON.stringify([req, over, path, query])}`);
    }
  }
});
