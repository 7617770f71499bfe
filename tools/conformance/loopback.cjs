// Preload (`node --require loopback.cjs`), used by run_client.py: the conformance suite's
// client-scenario servers call `listen(0)`, which binds every interface. This binds each
// port-only `listen(port[, backlog][, callback])` to 127.0.0.1 instead.
//
// Passing a host to listen() would not do: Node then resolves it asynchronously, while the
// suite reads `server.address().port` right after listen() returns. `_listen2` (Node's
// legacy alias of setupListenHandle, present in the pinned Node 22) binds synchronously,
// as listen() does without a host; without it the original listen() runs unchanged.
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [port, ...rest] = args;
  const portOnly =
    (typeof port === "number" || /^\d+$/.test(String(port))) &&
    rest.every((a) => typeof a === "function" || typeof a === "number");
  if (!portOnly || typeof this._listen2 !== "function") return listen.apply(this, args);
  const callback = rest.find((a) => typeof a === "function");
  const backlog = rest.find((a) => typeof a === "number");
  if (callback) this.once("listening", callback);
  this._listen2("127.0.0.1", Number(port), 4, backlog || 511);
  return this;
};
