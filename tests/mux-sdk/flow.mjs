// The Mux-compatible API driven by the official @mux/mux-node SDK, using
// only SDK calls (plus ffmpeg as the publisher and plain HTTP as the
// player), against a real `aethex serve` started by scripts/test-mux-sdk.
// Every wait is bounded; any failed check exits non-zero.
//
// Env: MUX_BASE_URL (http://127.0.0.1:PORT), MUX_TOKEN_ID, MUX_TOKEN_SECRET
// (one of our API tokens), AETHEX_RTMP (rtmp://127.0.0.1:PORT/live),
// AETHEX_RTMP_MUX_FORM (rtmp://127.0.0.1:PORT2/app: [rtmp] extra_listen and
// extra_apps),
// AETHEX_FIXTURE (an FLV file), AETHEX_WEBHOOK_SECRET and
// AETHEX_WEBHOOK_PORT (a `mux`-format endpoint registered by the script
// posts to http://127.0.0.1:PORT/).
import Mux from '@mux/mux-node';
import http from 'node:http';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';

const base = process.env.MUX_BASE_URL;
const mux = new Mux({
  baseURL: base,
  tokenId: process.env.MUX_TOKEN_ID,
  tokenSecret: process.env.MUX_TOKEN_SECRET,
  webhookSecret: process.env.AETHEX_WEBHOOK_SECRET,
  maxRetries: 0,
});

const step = (msg) => console.log(`mux-node: ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// Webhook receiver: every delivery must unwrap with mux.webhooks.unwrap.
const events = [];
const unwrapFailures = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; if (body.length > 1e6) req.destroy(); });
  req.on('end', async () => {
    try {
      const event = await mux.webhooks.unwrap(body, req.headers);
      events.push(event);
      res.writeHead(200).end();
    } catch (e) {
      unwrapFailures.push(String(e));
      res.writeHead(400).end();
    }
  });
});
await new Promise((r) => server.listen(Number(process.env.AETHEX_WEBHOOK_PORT), '127.0.0.1', r));

function publish(key, seconds, server = process.env.AETHEX_RTMP) {
  const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', process.env.AETHEX_FIXTURE,
    '-t', String(seconds), '-c', 'copy', '-f', 'flv', `${server}/${key}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ff.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => ff.on('exit', (code) => resolve({ code, stderr })));
  return { ff, done };
}

async function get(url) {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

try {
  step('create a live stream');
  const created = await mux.video.liveStreams.create({
    playback_policies: ['public'],
    new_asset_settings: {
      playback_policies: ['public'],
      static_renditions: [{ resolution: 'highest' }, { resolution: 'audio-only' }],
    },
    reconnect_window: 30,
    latency_mode: 'standard',
    passthrough: 'sdk-test',
    some_field_we_do_not_implement: true,
  });
  assert.equal(created.status, 'idle');
  assert.match(created.created_at, /^\d+$/);
  assert.equal(created.playback_ids.length, 1);
  assert.equal(created.playback_ids[0].policy, 'public');
  assert.equal(created.reconnect_window, 30);
  assert.equal(created.passthrough, 'sdk-test');

  step('read its stream key back');
  const again = await mux.video.liveStreams.retrieve(created.id);
  assert.ok(again.stream_key.length >= 20, 'the stream key is shown on every read');
  assert.equal(again.stream_key, created.stream_key);

  step('publish with ffmpeg to the Mux ingest URL form (rtmp://HOST:PORT/app/KEY); wait for active');
  const pub = publish(again.stream_key, 10, process.env.AETHEX_RTMP_MUX_FORM);
  await until('status active', 20000, async () => (await mux.video.liveStreams.retrieve(created.id)).status === 'active');
  const publicId = created.playback_ids[0].id;
  step('play /{playback_id}.m3u8');
  const master = await until('a master playlist', 20000, async () => {
    const r = await get(`${base}/${publicId}.m3u8`);
    return r.status === 200 ? r.text : null;
  });
  assert.match(master, /#EXTM3U/);
  const variant = master.split('\n').find((l) => l && !l.startsWith('#'));
  const media = await get(new URL(variant, `${base}/${publicId}.m3u8`).href);
  assert.equal(media.status, 200, `variant playlist ${variant}`);
  const segment = media.text.split('\n').find((l) => l && !l.startsWith('#'));
  const segUrl = new URL(segment, new URL(variant, `${base}/${publicId}.m3u8`)).href;
  const seg = await fetch(segUrl);
  assert.equal(seg.status, 200, `segment ${segUrl}`);
  assert.ok((await seg.arrayBuffer()).byteLength > 1000);

  step('add a signed playback id; sign a token with mux.jwt.signPlaybackId');
  const signed = await mux.video.liveStreams.createPlaybackId(created.id, { policy: 'signed' });
  assert.equal(signed.policy, 'signed');
  const key = await mux.system.signingKeys.create();
  assert.ok(key.private_key, 'the private key is returned on create');
  const token = await mux.jwt.signPlaybackId(signed.id, { keyId: key.id, keySecret: key.private_key, type: 'video', expiration: '1h' });
  const thumbToken = await mux.jwt.signPlaybackId(signed.id, { keyId: key.id, keySecret: key.private_key, type: 'thumbnail', expiration: '1h' });
  assert.equal((await get(`${base}/${signed.id}.m3u8`)).status, 403, 'no token: 403');
  assert.equal((await get(`${base}/${signed.id}.m3u8?token=${thumbToken}`)).status, 403, 'thumbnail token: 403');
  const signedMaster = await get(`${base}/${signed.id}.m3u8?token=${token}`);
  assert.equal(signedMaster.status, 200, 'video token: 200');
  const signedVariant = signedMaster.text.split('\n').find((l) => l && !l.startsWith('#'));
  assert.match(signedVariant, /token=/, 'the token is carried on variant URIs');
  assert.equal((await get(new URL(signedVariant, `${base}/x.m3u8`).href)).status, 200);
  const thumb = await fetch(`${base}/${signed.id}/thumbnail.jpg?token=${thumbToken}`);
  assert.ok([200, 404].includes(thumb.status), `thumbnail with a thumbnail token: ${thumb.status}`);
  assert.equal((await fetch(`${base}/${signed.id}/thumbnail.jpg?token=${token}`)).status, 403, 'video token on a thumbnail: 403');

  step('look the playback id up');
  const lookup = await mux.video.playbackIds.retrieve(signed.id);
  assert.equal(lookup.policy, 'signed');
  assert.deepEqual(lookup.object, { type: 'live_stream', id: created.id });

  step('the publisher finishes: the stream stays active for the reconnect window (Mux semantics)');
  const { code } = await until('ffmpeg to finish', 30000, () => Promise.race([pub.done, sleep(200).then(() => null)]));
  assert.equal(code, 0);
  await sleep(1000);
  assert.equal((await mux.video.liveStreams.retrieve(created.id)).status, 'active');

  step('complete: idle at once');
  await mux.video.liveStreams.complete(created.id);
  await until('status idle', 15000, async () => (await mux.video.liveStreams.retrieve(created.id)).status === 'idle');

  step('exactly one ready asset of the right duration, found through assets.list({live_stream_id})');
  const asset = await until('a ready asset', 30000, async () => {
    const page = await mux.video.assets.list({ live_stream_id: created.id });
    assert.equal(page.data.length, 1, 'exactly one asset');
    return page.data[0].status === 'ready' ? page.data[0] : null;
  });
  assert.equal(asset.live_stream_id, created.id);
  assert.ok(Math.abs(asset.duration - 10) <= 2.5, `duration ${asset.duration} s for 10 s published`);
  assert.equal(asset.is_live, false);
  assert.equal(asset.playback_ids.length, 1);
  const assetPlay = await get(`${base}/${asset.playback_ids[0].id}.m3u8`);
  assert.equal(assetPlay.status, 200, 'the asset playback id plays the recording');
  assert.match(assetPlay.text, /#EXTM3U/);
  const retrievedAsset = await mux.video.assets.retrieve(asset.id);
  assert.equal(retrievedAsset.id, asset.id);

  step('static renditions (highest.mp4, audio.m4a), storyboard and animated GIF of the asset');
  const withFiles = await until('static renditions ready', 90000, async () => {
    const a = await mux.video.assets.retrieve(asset.id);
    const files = a.static_renditions?.files ?? [];
    return files.length === 2 && files.every((f) => f.status === 'ready') ? a : null;
  });
  assert.deepEqual(withFiles.static_renditions.files.map((f) => f.name).sort(), ['audio.m4a', 'highest.mp4']);
  const assetPid = asset.playback_ids[0].id;
  const probe = (url) => new Promise((resolve, reject) => {
    const p = spawn('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json', url]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`ffprobe ${url}: ${code}`))));
  });
  const mp4 = await probe(`${base}/${assetPid}/highest.mp4`);
  assert.ok(Math.abs(Number(mp4.format.duration) - 10) <= 2.5, `highest.mp4 lasts ${mp4.format.duration} s`);
  assert.deepEqual(mp4.streams.map((s) => s.codec_type).sort(), ['audio', 'video']);
  const m4a = await probe(`${base}/${assetPid}/audio.m4a`);
  assert.deepEqual(m4a.streams.map((s) => s.codec_type), ['audio']);
  const ranged = await fetch(`${base}/${assetPid}/highest.mp4`, { headers: { range: 'bytes=0-99' } });
  assert.equal(ranged.status, 206);
  assert.equal((await ranged.arrayBuffer()).byteLength, 100);
  const vtt = await until('the storyboard', 60000, async () => {
    const r = await get(`${base}/${assetPid}/storyboard.vtt`);
    return r.status === 200 ? r.text : null;
  });
  assert.match(vtt, /^WEBVTT/);
  const cue = vtt.split('\n').find((l) => l.includes('#xywh='));
  assert.ok(cue, 'storyboard cues point into the sprite');
  const sprite = await fetch(new URL(cue.split('#')[0], `${base}/`).href);
  assert.equal(sprite.status, 200);
  assert.equal(sprite.headers.get('content-type'), 'image/jpeg');
  const gif = await until('the animated GIF', 60000, async () => {
    const r = await fetch(`${base}/${assetPid}/animated.gif`);
    return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : null;
  });
  assert.equal(gif.subarray(0, 6).toString(), 'GIF89a');

  step('thumbnails with time, width, height and fit_mode, as PNG and WebP');
  const dims = (url) => new Promise((resolve, reject) => {
    const p = spawn('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', url]);
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).streams[0]) : reject(new Error(`ffprobe ${url}: ${code}`))));
  });
  const png = await dims(`${base}/${assetPid}/thumbnail.png?time=5&width=320&height=320&fit_mode=pad`);
  assert.deepEqual([png.codec_name, png.width, png.height], ['png', 320, 320]);
  const webp = await dims(`${base}/${assetPid}/thumbnail.webp?width=200`);
  assert.deepEqual([webp.codec_name, webp.width], ['webp', 200]);
  assert.equal((await fetch(`${base}/${assetPid}/thumbnail.jpg?time=3600`)).status, 404, 'past the end');
  assert.equal((await fetch(`${base}/${assetPid}/thumbnail.jpg?width=0`)).status, 400);

  step('a signed asset playback id: gif and storyboard tokens for their own files only');
  const signedAsset = await mux.video.assets.createPlaybackId(asset.id, { policy: 'signed' });
  const tok = (type) => mux.jwt.signPlaybackId(signedAsset.id, { keyId: key.id, keySecret: key.private_key, type, expiration: '1h' });
  const [gTok, sTok, vTok] = [await tok('gif'), await tok('storyboard'), await tok('video')];
  assert.equal((await fetch(`${base}/${signedAsset.id}/animated.gif?token=${gTok}`)).status, 200);
  assert.equal((await fetch(`${base}/${signedAsset.id}/animated.gif?token=${vTok}`)).status, 403);
  const signedVtt = await get(`${base}/${signedAsset.id}/storyboard.vtt?token=${sTok}`);
  assert.equal(signedVtt.status, 200);
  const signedCue = signedVtt.text.split('\n').find((l) => l.includes('#xywh='));
  assert.equal((await fetch(new URL(signedCue.split('#')[0], `${base}/`).href)).status, 200, 'the sprite URL carries the token');
  assert.equal((await fetch(`${base}/${signedAsset.id}/highest.mp4?token=${sTok}`)).status, 403);
  assert.equal((await fetch(`${base}/${signedAsset.id}/highest.mp4?token=${vTok}`)).status, 200);
  assert.equal((await get(`${base}/${signedAsset.id}.m3u8?token=${vTok}`)).status, 200);

  step('iterate liveStreams.list() to its end (page by page)');
  const extra = [];
  for (let i = 0; i < 3; i++) extra.push(await mux.video.liveStreams.create({ playback_policies: ['public'] }));
  const seen = new Set();
  let pages = 0;
  const firstPage = await mux.video.liveStreams.list({ limit: 2 });
  for await (const page of firstPage.iterPages()) {
    pages++;
    for (const ls of page.data) seen.add(ls.id);
    assert.ok(pages < 50, 'the iterator ends');
  }
  assert.ok(seen.has(created.id) && extra.every((e) => seen.has(e.id)), 'every live stream listed');
  assert.ok(pages >= 2, `paged (${pages} pages)`);
  let count = 0;
  for await (const ls of mux.video.liveStreams.list()) { count++; if (count > 1000) break; }
  assert.equal(count, seen.size);
  const keys = [];
  for await (const k of mux.system.signingKeys.list()) keys.push(k.id);
  assert.ok(keys.includes(key.id));

  step('disable: the publisher is refused; enable');
  await mux.video.liveStreams.disable(created.id);
  assert.equal((await mux.video.liveStreams.retrieve(created.id)).status, 'disabled');
  const refused = publish(again.stream_key, 5);
  const outcome = await until('ffmpeg to be refused', 20000, () => Promise.race([refused.done, sleep(200).then(() => null)]));
  assert.notEqual(outcome.code, 0, 'a disabled stream refuses the publisher');
  await mux.video.liveStreams.enable(created.id);
  assert.equal((await mux.video.liveStreams.retrieve(created.id)).status, 'idle');

  step('delete: NotFoundError after');
  await mux.video.liveStreams.delete(created.id);
  await assert.rejects(mux.video.liveStreams.retrieve(created.id), (e) => e instanceof Mux.NotFoundError);
  for (const e of extra) await mux.video.liveStreams.delete(e.id);

  step('every webhook verifies with mux.webhooks.unwrap');
  const want = ['video.live_stream.created', 'video.live_stream.connected', 'video.live_stream.recording',
    'video.live_stream.active', 'video.live_stream.idle', 'video.asset.created', 'video.asset.ready',
    'video.asset.live_stream_completed', 'video.asset.static_rendition.created',
    'video.asset.static_rendition.ready', 'video.live_stream.disabled', 'video.live_stream.enabled',
    'video.live_stream.deleted'];
  await until('every expected webhook', 30000, async () => want.every((t) => events.some((e) => e.type === t && e.object.id !== undefined)));
  assert.deepEqual(unwrapFailures, []);
  const active = events.find((e) => e.type === 'video.live_stream.active' && e.object.id === created.id);
  assert.equal(active.object.type, 'live_stream');
  assert.equal(active.data.status, 'active');
  const ready = events.find((e) => e.type === 'video.asset.ready' && e.data.live_stream_id === created.id);
  assert.equal(ready.object.type, 'asset');
  assert.equal(ready.data.status, 'ready');
  step(`ok (${events.length} webhooks)`);
} finally {
  server.close();
}
