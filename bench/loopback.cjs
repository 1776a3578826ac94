// Preloaded into the Portkey gateway (node -r bench/loopback.cjs ...): its start-server.js calls
// server.listen(port, undefined, cb), i.e. every interface, with no option to choose. This binds
// any listen(port) without an explicit host to BENCH_BIND_HOST (default 127.0.0.1) instead.
'use strict';
const net = require('node:net');
const host = process.env.BENCH_BIND_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    if (args[1] === undefined) args.splice(1, 1, host);
    else args.splice(1, 0, host);
  }
  return listen.apply(this, args);
};
