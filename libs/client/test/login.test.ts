import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClientError, ClientErrorCode, ClientState } from "@meridian/client/node";
import { fixtures, next, TRANSPORTS } from "./helpers/client-fixtures.js";
import { waitFor } from "./helpers/scripted-gateway.js";

for (const transport of TRANSPORTS) {
  describe(`login (${transport})`, () => {
    const f = fixtures(transport);

    test("login - login_ok stores the session and refresh token; the nonce of hello_ok is sent", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      const hello = await client.connect();
      const loggedIn = next(client, "loggedIn");
      const ok = await client.login("alice", "secret-1");
      assert.equal(ok.created, true);
      assert.equal((await loggedIn).ref, ok.ref);
      assert.equal(client.state, ClientState.LoggedIn);
      assert.equal(client.session?.accountId, ok.accountId);
      assert.equal(client.session?.sessionId, ok.sessionId);
      assert.equal(client.refreshToken, ok.refreshToken);
      const login = peer.connections[0]?.messages.find((m) => m.t === "login");
      assert.ok(login?.t === "login");
      assert.equal(login.nonce, hello.nonce);
      assert.equal(login.username, "alice");
    });

    test("login - bad credentials reject with the server's code; the retry uses the fresh nonce", async () => {
      const peer = await f.peer();
      peer.accounts.set("bob", { password: "right", accountId: "77" });
      const client = f.client(peer.url);
      const hello = await client.connect();
      await assert.rejects(client.login("bob", "wrong"), (error: unknown) => {
        assert.ok(error instanceof ClientError);
        assert.equal(error.code, "LOBBY_BAD_CREDENTIALS");
        assert.equal(error.fromServer, true);
        return true;
      });
      assert.equal(client.state, ClientState.Connected);
      const ok = await client.login("bob", "right");
      assert.equal(ok.accountId, "77");
      assert.equal(ok.created, false);
      const logins = peer.connections[0]?.messages.flatMap((m) => (m.t === "login" ? [m] : [])) ?? [];
      assert.equal(logins.length, 2);
      assert.equal(logins[0]?.nonce, hello.nonce);
      assert.notEqual(logins[1]?.nonce, hello.nonce);
      assert.notEqual(logins[0]?.ref, logins[1]?.ref);
    });

    test("login - LOBBY_LOGIN_NONCE_INVALID is retried once at once with the fresh nonce", async () => {
      const peer = await f.peer();
      peer.nonceInvalidLogins = 1;
      const client = f.client(peer.url);
      await client.connect();
      const ok = await client.login("carol", "pw");
      assert.equal(ok.username, "carol");
      const logins = peer.connections[0]?.messages.flatMap((m) => (m.t === "login" ? [m] : [])) ?? [];
      assert.equal(logins.length, 2);
      assert.notEqual(logins[0]?.nonce, logins[1]?.nonce);
    });

    test("login - a second LOBBY_LOGIN_NONCE_INVALID is not retried again", async () => {
      const peer = await f.peer();
      peer.nonceInvalidLogins = 2;
      const client = f.client(peer.url);
      await client.connect();
      await assert.rejects(client.login("dave", "pw"), { code: "LOBBY_LOGIN_NONCE_INVALID" });
      assert.equal(peer.connections[0]?.messages.filter((m) => m.t === "login").length, 2);
    });

    test("login - one login at a time; none before connect; none once logged in", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await assert.rejects(client.login("erin", "pw"), { code: ClientErrorCode.NotConnected });
      await client.connect();
      const first = client.login("erin", "pw");
      await assert.rejects(client.login("erin", "pw"), { code: ClientErrorCode.InvalidState });
      await first;
      await assert.rejects(client.login("erin", "pw"), { code: ClientErrorCode.InvalidState });
      await assert.rejects(client.login("", "pw"), { code: ClientErrorCode.InvalidOptions });
    });

    test("logout - bye 1000 resolves it; the session is forgotten and there is no reconnect", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("frank", "pw");
      const disconnected = next(client, "disconnected");
      await client.logout();
      const closed = await disconnected;
      assert.equal(closed.code, 1000);
      assert.equal(closed.willReconnect, false);
      assert.equal(client.state, ClientState.Idle);
      assert.equal(client.session, undefined);
      assert.equal(client.refreshToken, undefined);
      assert.throws(() => client.sendInput({}), { code: ClientErrorCode.NotConnected });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(peer.connections.length, 1);
    });

    test("close - pending calls reject with CLIENT_CLOSED; the session can be resumed later", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("gina", "pw");
      const token = client.refreshToken;
      client.close();
      assert.equal(client.state, ClientState.Idle);
      await waitFor(() => peer.open.length === 0, 2_000, "the peer to see the close");
      await client.connect();
      const resumed = await client.resume();
      assert.notEqual(resumed.refreshToken, token);
      assert.equal(client.refreshToken, resumed.refreshToken);
      assert.ok(peer.spentTokens.has(token as string));
    });
  });
}

for (const transport of TRANSPORTS) {
  describe(`requests (${transport})`, () => {
    const f = fixtures(transport);

    test("requests - an unanswered login is CLIENT_TIMEOUT", async () => {
      const peer = await f.peer();
      peer.ignore.add("login");
      const client = f.client(peer.url, { requestTimeoutMs: 100 });
      await client.connect();
      await assert.rejects(client.login("ivy", "pw"), { code: ClientErrorCode.Timeout });
    });

    test("requests - close() rejects a pending login with CLIENT_CLOSED", async () => {
      const peer = await f.peer();
      peer.ignore.add("login");
      const client = f.client(peer.url);
      await client.connect();
      const login = client.login("jack", "pw");
      client.close();
      await assert.rejects(login, { code: ClientErrorCode.Closed });
    });
  });
}
