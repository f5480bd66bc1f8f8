/** Ghosts: a player near the border on one zone server sees the other server's player. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;

before(async () => {
  cluster = await createCluster();
});
after(() => cluster.ctx.cleanup());

/** The ids of the entities that entered a player's view so far. */
function seen(accountId: string): Set<string> {
  const ids = new Set<string>();
  for (const u of cluster.gateway.updatesFor(accountId)) {
    const data = u.data as { enter?: { id: string }[] };
    for (const e of data.enter ?? []) ids.add(e.id);
  }
  return ids;
}

describe("ghosts", () => {
  it("ghosts - players on either side of a border see each other", async () => {
    const epochA = await cluster.authority.lease("c0_0", "za");
    const epochB = await cluster.authority.lease("c1_0", "zb");
    const za = await cluster.startZone("za");
    const zb = await cluster.startZone("zb");
    await cluster.install("za", { accountId: "501", cell: "c0_0", cellEpoch: epochA, x: 190, y: 100 });
    await cluster.install("zb", { accountId: "502", cell: "c1_0", cellEpoch: epochB, x: 210, y: 100 });
    await waitFor("501 sees 502", () => [...seen("501")].some((id) => id.includes("502")));
    await waitFor("502 sees 501", () => [...seen("502")].some((id) => id.includes("501")));
    assert.ok(za.owns("501") && !za.owns("502"));
    assert.ok(zb.owns("502") && !zb.owns("501"));
    // The updates about the other side come from each player's own server.
    assert.ok(cluster.gateway.updatesFor("501").every((u) => u.server === "za"));
  });
});
