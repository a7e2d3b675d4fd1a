// How the page stays current: Pusher events when the server has Pusher configured
// (GET /api/v1/realtime), else polling the JSON API. While Pusher is unreachable the page
// polls too, and reloads everything once it is back (events sent meanwhile are lost).

import { authHeaders, tokenSubject } from "./api.js";

export const POLL_MS = 3000;
const PUSHER_JS = "/static/vendor/pusher.min.js";
const DOWN = new Set(["unavailable", "failed", "disconnected"]);

// h: {execution, agent, metrics, health} (event payloads), resync() (reload from the API),
// poll() (one round of polling), mode(name, text), subscribed(names), notice(text).
// Returns {stop()}.
export async function connect(rt, h) {
  const poller = makePoller(h);
  if (!rt || !rt.enabled) {
    poller.start();
    h.mode("polling", `Pusher is not configured on the server: polling the API every ${POLL_MS / 1000} s`);
    return poller;
  }
  if (!(await loadPusherJs())) {
    poller.start();
    h.mode("polling", `pusher-js is not installed on the server (npm install): polling every ${POLL_MS / 1000} s`);
    return poller;
  }
  return connectPusher(rt, h, poller);
}

function makePoller(h) {
  let timer = null;
  return {
    start() {
      if (timer === null) {
        h.poll();
        timer = setInterval(h.poll, POLL_MS);
      }
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
  };
}

function loadPusherJs() {
  if (window.Pusher) return Promise.resolve(true);
  return new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = PUSHER_JS;
    script.onload = () => resolve(Boolean(window.Pusher));
    script.onerror = () => resolve(false);
    document.head.append(script);
  });
}

function connectPusher(rt, h, poller) {
  const options = {
    cluster: rt.cluster || "mt1",
    forceTLS: Boolean(rt.tls),
    enabledTransports: rt.tls ? ["wss"] : ["ws"],
    disableStats: true,
    channelAuthorization: { endpoint: rt.auth_endpoint, transport: "ajax", headers: authHeaders() },
  };
  if (rt.host) {
    options.wsHost = rt.host;
    options.wsPort = rt.port || 80;
    options.wssPort = rt.port || 443;
  }
  const client = new window.Pusher(rt.key, options);
  const prefix = rt.prefix;
  const user = tokenSubject();
  // Without the public fleet channels only the user's own executions arrive live.
  const fleetLive = Boolean(rt.public_channels);
  let wasDown = false;
  const subscribed = new Set();
  const names = [];

  // Once every channel is subscribed, one reload from the API covers what changed before.
  const subscribe = (name, event, handler) => {
    names.push(name);
    const channel = client.subscribe(name);
    channel.bind(event, handler);
    channel.bind("pusher:subscription_succeeded", () => {
      const first = subscribed.size < names.length;
      subscribed.add(name);
      h.subscribed([...subscribed]);
      if (first && subscribed.size === names.length) h.resync();
    });
    channel.bind("pusher:subscription_error", (err) =>
      h.notice(`cannot subscribe to ${name}: ${(err && (err.error || err.status)) || "refused"}`),
    );
  };
  if (fleetLive) {
    subscribe(`${prefix}-executions`, "execution.updated", h.execution);
    subscribe(`${prefix}-agents`, "agent.updated", h.agent);
    subscribe(`${prefix}-metrics`, "metrics.updated", h.metrics);
    subscribe(`${prefix}-health`, "health.updated", h.health);
  }
  if (rt.private_user_channels && user) {
    subscribe(`private-${prefix}-user-${user}`, "execution.updated", h.execution);
  }
  if (!fleetLive) poller.start();

  const where = rt.host ? `${rt.host}:${rt.port}` : `cluster ${rt.cluster}`;
  h.mode("connecting", `connecting to Pusher (${where})…`);
  client.connection.bind("state_change", ({ current }) => {
    if (current === "connected") {
      if (fleetLive) poller.stop();
      h.mode("pusher", fleetLive ? `live: Pusher events (${where})` : "live: your executions over Pusher; the fleet is polled");
      if (wasDown) h.resync();
      wasDown = false;
    } else if (DOWN.has(current)) {
      wasDown = true;
      poller.start();
      h.mode("polling", `Pusher ${current}: polling the API every ${POLL_MS / 1000} s`);
    }
  });
  return {
    stop() {
      poller.stop();
      client.disconnect();
    },
  };
}
