import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normaliseUsername } from "../src/accounts/index.js";
import { LobbyErrorCode } from "../src/errors.js";

function invalid(raw: unknown): void {
  assert.throws(() => normaliseUsername(raw), { code: LobbyErrorCode.InvalidUsername }, String(raw));
}

describe("usernames", () => {
  it("usernames - case variants share one key, display keeps the case", () => {
    assert.deepEqual(normaliseUsername("  Alice_01 "), { display: "Alice_01", key: "alice_01" });
    assert.equal(normaliseUsername("ALICE_01").key, "alice_01");
  });

  it("usernames - NFKC folds fullwidth and compatibility forms", () => {
    assert.equal(normaliseUsername("ＡＬＩＣＥ＿０１").key, "alice_01");
    assert.equal(normaliseUsername("Ａlice").display, "Alice");
    assert.equal(normaliseUsername("ﬁre-bird").key, "fire-bird"); // the ﬁ ligature
    // é precomposed and e + combining acute are one name
    assert.equal(normaliseUsername("Ren\u00e9e").key, normaliseUsername("Rene\u0301e").key);
  });

  it("usernames - letters of any script", () => {
    assert.equal(normaliseUsername("Ωμέγα").key, "ωμέγα");
    assert.equal(normaliseUsername("Дмитрий").key, "дмитрий");
    assert.equal(normaliseUsername("山田太郎").key, "山田太郎");
  });

  it("usernames - length 3 to 32 after normalisation", () => {
    assert.equal(normaliseUsername("abc").key, "abc");
    assert.equal(normaliseUsername("a".repeat(32)).key, "a".repeat(32));
    invalid("ab");
    invalid("  ab  ");
    invalid("");
    invalid("a".repeat(33));
    invalid("x".repeat(10_000));
  });

  it("usernames - refuses other characters and non-strings", () => {
    for (const raw of [
      "bad name",
      "a.b.c",
      "abc!",
      "tab\tname",
      "zal\u0301\u0301\u0301go",
      "emoji😀x",
      "a/b/c",
    ]) {
      invalid(raw);
    }
    invalid(undefined);
    invalid(42);
  });
});
