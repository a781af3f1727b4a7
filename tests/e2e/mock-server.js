// An in-memory stand-in for the MiniMost HTTP/SSE API (api.md), serving the web client straight
// from web/ without hashing. It exists for two jobs the real binary cannot do yet: exercising the
// client while the server routes are being built, and the client-side measurements (DOM size
// after 10,000 messages, long tasks at 50 messages/s). The browser tests proper run against the
// real binary (server.js); nothing here is used by them.
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve, extname } from 'node:path';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const WEB = join(ROOT, 'web');
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.html': 'text/html', '.webmanifest': 'application/manifest+json' };

function appPage(user) {
  const config = JSON.stringify({ user, max_upload_mb: 25, max_avatar_mb: 5, max_message_chars: 10000, stun_port: 3478 }).replace(/"/g, '&quot;');
  return readFileSync(join(WEB, 'templates/app.html'), 'utf8')
    .replace(/\{\{ asset\('([^']+)'\) \}\}/g, '/static/$1')
    .replace('{{ csrf_token }}', 'mock-token')
    .replace('{{ config_json }}', config)
    .replace('{{ user }}', user);
}

export function startMock({ port = 0, users = ['alice', 'bob'], channels = ['general', 'random'] } = {}) {
  let clock = 1_700_000_000;
  const tick = () => { clock += 0.001; return clock; };
  let nextId = 1;
  const rows = [];             // message rows
  const streams = new Set();   // {res, user, channel}
  const pins = new Map();      // channel → pin list
  const watermarks = new Map();

  const visible = (channel) => rows.filter((r) => r.channel === channel);
  const frame = (res, name, data, id) => res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const unreads = (user) => Object.fromEntries(channels.map((c) => [c, visible(c).filter((r) => !r.deleted && r.sender !== user && r.ts > (watermarks.get(`${user}|${c}`) || 0)).length]));
  const publish = (changed) => {
    for (const s of streams) {
      const mine = changed.filter((r) => r.channel === s.channel);
      if (mine.length) frame(s.res, 'messages', mine, clock);
      frame(s.res, 'channel_unreads', unreads(s.user));
    }
  };
  const post = (channel, sender, content, extra = {}) => {
    const row = { id: nextId++, channel, sender, content, content_type: sender === 'system' ? 'system' : 'text', filename: null, ts: tick(), edited: 0, edited_ts: null, deleted: 0, deleted_ts: null, reply_to_id: null, reactions_ts: null, mentions: null, reactions: null, ...extra };
    rows.push(row);
    return row;
  };

  function seed(channel, count, sender = 'bob') {
    for (let i = 0; i < count; i += 1) post(channel, sender, `Message ${i + 1} of the backlog, with **some** formatting and a \`code\` chip.`);
  }

  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const readBody = (req) => new Promise((ok) => { const parts = []; req.on('data', (c) => parts.push(c)); req.on('end', () => ok(Buffer.concat(parts).toString('utf8'))); });
  const formField = (body, type, name) => {
    if (type.includes('application/json')) { try { return JSON.parse(body)[name]; } catch { return undefined; } }
    if (type.includes('multipart')) { const m = new RegExp(`name="${name}"\\r\\n\\r\\n([\\s\\S]*?)\\r\\n--`).exec(body); return m ? m[1] : undefined; }
    return new URLSearchParams(body).get(name) ?? undefined;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = decodeURIComponent(url.pathname);
    const cookie = /user=([\w-]+)/.exec(req.headers.cookie || '');
    const user = url.searchParams.get('as') || (cookie ? cookie[1] : users[0]);
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store', 'Set-Cookie': `user=${user}; Path=/` });
      res.end(appPage(user));
      return;
    }
    if (path.startsWith('/static/') || path === '/sw.js' || path === '/manifest.webmanifest') {
      const file = join(WEB, 'static', path === '/sw.js' || path === '/manifest.webmanifest' ? path : path.slice(7));
      if (!file.startsWith(join(WEB, 'static')) || !existsSync(file)) { json(res, 404, { error: 'not found' }); return; }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP, 'Service-Worker-Allowed': '/' });
      res.end(readFileSync(file));
      return;
    }
    const body = req.method === 'POST' ? await readBody(req) : '';
    const type = req.headers['content-type'] || '';
    let m;
    if (path === '/ca.pem') { res.writeHead(200, { 'Content-Type': 'application/x-pem-file' }); res.end(req.method === 'HEAD' ? undefined : 'mock'); return; }
    if (path === '/channels') return json(res, 200, channels);
    if (path === '/users') return json(res, 200, users.filter((u) => u !== user));
    if (path === '/user_colors') return json(res, 200, {});
    if (path === '/user_avatars') return json(res, 200, []);
    if (path === '/session') return json(res, 200, { user, csrf_token: 'mock-token' });
    if (path === '/presence' || path.startsWith('/typing/') || path === '/presence/override') { res.writeHead(204); res.end(); return; }
    if ((m = /^\/last_read\/(.+)$/.exec(path))) return json(res, 200, { last_read_ts: watermarks.get(`${user}|${m[1]}`) ?? null });
    if ((m = /^\/mark_read\/(.+)$/.exec(path))) {
      const last = visible(m[1]).at(-1);
      if (last) watermarks.set(`${user}|${m[1]}`, last.ts);
      res.writeHead(204); res.end();
      for (const s of streams) if (s.user === user) frame(s.res, 'channel_unreads', unreads(user));
      return;
    }
    if ((m = /^\/channel_members\/(.+)$/.exec(path))) return json(res, 200, users.filter((u) => u !== user));
    if ((m = /^\/messages_before\/(.+)$/.exec(path))) {
      const before = Number(url.searchParams.get('before'));
      const beforeId = Number(url.searchParams.get('before_id') || Infinity);
      const limit = Number(url.searchParams.get('limit') || 100);
      const older = visible(m[1]).filter((r) => !r.deleted && (r.ts < before || (r.ts === before && r.id < beforeId)));
      return json(res, 200, older.slice(-limit));
    }
    if ((m = /^\/send\/(.+)$/.exec(path))) {
      const text = formField(body, type, 'text') || '';
      publish([post(m[1], user, text)]);
      res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('ok');
      return;
    }
    if ((m = /^\/react\/(\d+)$/.exec(path))) {
      const row = rows.find((r) => r.id === Number(m[1]));
      const name = formField(body, type, 'reaction');
      const reactions = { ...(row.reactions || {}) };
      const list = new Set(reactions[name] || []);
      if (list.has(user)) list.delete(user); else list.add(user);
      if (list.size) reactions[name] = [...list].sort(); else delete reactions[name];
      row.reactions = Object.keys(reactions).length ? reactions : null;
      row.reactions_ts = tick();
      publish([row]);
      return json(res, 200, reactions);
    }
    if ((m = /^\/pin\/(\d+)$/.exec(path))) {
      const row = rows.find((r) => r.id === Number(m[1]));
      const list = pins.get(row.channel) || [];
      const at = list.findIndex((p) => p.id === row.id);
      if (at >= 0) list.splice(at, 1);
      else list.unshift({ channel: row.channel, content: row.content, filename: null, id: row.id, pinned_by: user, pinned_ts: tick(), sender: row.sender, ts: row.ts });
      pins.set(row.channel, list);
      for (const s of streams) if (s.channel === row.channel) frame(s.res, 'pins', list);
      return json(res, 200, list);
    }
    if ((m = /^\/edit\/(\d+)$/.exec(path))) {
      const row = rows.find((r) => r.id === Number(m[1]));
      row.content = formField(body, type, 'text'); row.edited = 1; row.edited_ts = tick();
      publish([row]);
      res.writeHead(200); res.end('ok');
      return;
    }
    if ((m = /^\/delete\/(\d+)$/.exec(path))) {
      const row = rows.find((r) => r.id === Number(m[1]));
      Object.assign(row, { deleted: 1, deleted_ts: tick(), content: null, reactions: null });
      publish([row]);
      res.writeHead(200); res.end('ok');
      return;
    }
    if ((m = /^\/message\/(\d+)$/.exec(path))) {
      const row = rows.find((r) => r.id === Number(m[1]));
      return row ? json(res, 200, { content: row.content, deleted: row.deleted, filename: row.filename, id: row.id, sender: row.sender }) : json(res, 404, { error: 'not found' });
    }
    if (path === '/search_messages') {
      const q = (url.searchParams.get('q') || '').toLowerCase();
      return json(res, 200, rows.filter((r) => !r.deleted && q && (r.content || '').toLowerCase().includes(q)).reverse().slice(0, 50));
    }
    if ((m = /^\/pins\/(.+)$/.exec(path))) return json(res, 200, pins.get(m[1]) || []);
    if (path === '/settings') return json(res, 200, req.method === 'POST' ? 'ok' : { bio: null, name_color: null });
    if (path.startsWith('/profile/')) return json(res, 200, { bio: 'Mock bio', name_color: null, username: path.slice(9) });
    if (path === '/link_preview' || path.startsWith('/file_preview/')) return json(res, 200, {});
    if (path === '/events') {
      const channel = url.searchParams.get('channel') || '';
      const after = Math.max(Number(url.searchParams.get('after') || 0), Number(req.headers['last-event-id'] || 0));
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'Content-Security-Policy': CSP });
      res.write('retry: 3000\n\n');
      const stream = { res, user, channel };
      if (channel) {
        const list = visible(channel);
        const snapshot = after > 0 ? list.filter((r) => Math.max(r.ts, r.edited_ts || 0, r.deleted_ts || 0, r.reactions_ts || 0) > after) : list.filter((r) => !r.deleted).slice(-100);
        if (snapshot.length) frame(res, 'messages', snapshot, clock);
        frame(res, 'typing', []);
        frame(res, 'read_receipts', {});
        frame(res, 'pins', pins.get(channel) || []);
      }
      frame(res, 'online_users', Object.fromEntries(users.map((u) => [u, 'active'])));
      frame(res, 'dms', []);
      frame(res, 'channel_unreads', unreads(user));
      frame(res, 'private_channels', []);
      frame(res, 'mentions', []);
      frame(res, 'unread_count', { count: 0 });
      streams.add(stream);
      req.on('close', () => streams.delete(stream));
      return;
    }
    json(res, 404, { error: 'The requested resource was not found.' });
  });

  return new Promise((ok) => server.listen(port, '127.0.0.1', () => {
    const base = `http://127.0.0.1:${server.address().port}`;
    ok({
      base, seed, post: (channel, sender, content) => publish([post(channel, sender, content)]),
      async stop() { for (const s of streams) s.res.end(); await new Promise((r) => server.close(r)); },
    });
  }));
}
