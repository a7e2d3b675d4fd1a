// The JSON API of `agentq serve` and the token that opens it.
//
// The token (a Supabase JWT) lives in sessionStorage: this tab only, gone when it closes.
// A `#token=<jwt>` fragment is taken once and removed from the address bar.

const TOKEN_KEY = "agentq.token";

export class AuthError extends Error {}

export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    setToken(token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// The token's subject (user id), read without verifying: the server verifies it.
export function tokenSubject() {
  const token = getToken();
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || null;
  } catch {
    return null;
  }
}

export function authHeaders() {
  const token = getToken();
  return token ? { Authorization: "Bearer " + token } : {};
}

// GET a JSON endpoint. 401 → AuthError with the server's message; another error → Error
// naming the path and the server's message.
export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: reported below with the status
  }
  if (response.status === 401) {
    throw new AuthError((body && body.error) || "the token was refused");
  }
  if (!response.ok && !(body && body.status)) {
    // A health report comes with 503 when unhealthy: it is an answer, not an error.
    throw new Error(`${path}: HTTP ${response.status}${body && body.error ? ": " + body.error : ""}`);
  }
  return body;
}
