// Probes a list of URLs with npm probe-image-size 7.x, C at a time; run by run_remote.py.
//
// Usage: node peer_probe_image_size.mjs LISTFILE CONCURRENCY RESULTS_OUT
//
// Each URL goes through probe-image-size's own HTTP path (`probe(url)`: needle GET of the whole
// file, streamed into its parsers, the request aborted once one of them has the size). A simple
// promise pool keeps CONCURRENCY probes running. RESULTS_OUT receives one JSON object per URL
// (url, width, height, error, and body_bytes: all bytes received for that URL's path, so a URL
// listed twice shows the sum of both) in list order; stdout gets one JSON summary:
//   seconds             from the first probe started to the last one settled (node's startup
//                       and module loading excluded; run_remote.py also times the process)
//   body_bytes          response body bytes the client's http.IncomingMessage objects emitted
//   socket_bytes_read   sum of net.Socket.bytesRead over every socket the agent opened
//                       (bytes node took off its sockets, response headers included)
//   connections, responses
import * as fs from 'node:fs';
import http from 'node:http';
import probe from 'probe-image-size';

const [listPath, concurrencyText, resultsPath] = process.argv.slice(2);
const concurrency = Number.parseInt(concurrencyText, 10);
if (!listPath || !resultsPath || !(concurrency > 0)) {
  console.error('usage: node peer_probe_image_size.mjs LISTFILE CONCURRENCY RESULTS_OUT');
  process.exit(2);
}
const urls = fs.readFileSync(listPath, 'utf8').split('\n').filter((line) => line.length > 0);

// needle uses http.globalAgent when not given an agent: record every socket it creates.
const sockets = [];
const createConnection = http.globalAgent.createConnection;
http.globalAgent.createConnection = function recordSocket(...args) {
  const socket = createConnection.apply(this, args);
  sockets.push(socket);
  return socket;
};

// Body bytes as delivered to the client: every 'data' event of a response stream, in total and
// per request path (so per URL: the benchmark's URLs differ only in their paths).
let bodyBytes = 0;
let responses = 0;
const bodyBytesByPath = new Map();
const emit = http.IncomingMessage.prototype.emit;
http.IncomingMessage.prototype.emit = function countBody(event, chunk, ...rest) {
  if (event === 'data' && chunk) {
    bodyBytes += chunk.length;
    const path = this.req ? this.req.path : '';
    bodyBytesByPath.set(path, (bodyBytesByPath.get(path) || 0) + chunk.length);
  }
  return emit.call(this, event, chunk, ...rest);
};
const onResponse = (request) => request.once('response', () => { responses += 1; });
const request = http.request;
http.request = function countResponses(...args) {
  const clientRequest = request.apply(this, args);
  onResponse(clientRequest);
  return clientRequest;
};

const results = new Array(urls.length);
let next = 0;
async function worker() {
  while (next < urls.length) {
    const index = next++;
    try {
      const answer = await probe(urls[index]);
      results[index] = { url: urls[index], width: answer.width, height: answer.height, error: null };
    } catch (error) {
      results[index] = { url: urls[index], width: null, height: null, error: String(error.message) };
    }
  }
}

const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, worker));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;

for (const result of results) {
  result.body_bytes = bodyBytesByPath.get(new URL(result.url).pathname) || 0;
}
fs.writeFileSync(resultsPath, results.map((result) => JSON.stringify(result)).join('\n') + '\n');
const socketBytesRead = sockets.reduce((sum, socket) => sum + (socket.bytesRead || 0), 0);
console.log(JSON.stringify({
  urls: urls.length,
  seconds,
  body_bytes: bodyBytes,
  socket_bytes_read: socketBytesRead,
  connections: sockets.length,
  responses,
  errors: results.filter((result) => result.error !== null).length,
}));
// Sockets aborted by probe-image-size are already destroyed; idle keep-alive ones would hold
// the event loop open.
process.exit(0);
