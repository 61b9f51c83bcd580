"""The core of the Mux flow with the official mux_python SDK (5.x), against a
real `aethex serve` started by scripts/test-mux-sdk: create, get, list by
page to its end, assets list, signing key create. Env as flow.mjs."""
import os
import sys

import mux_python
from mux_python.exceptions import NotFoundException

configuration = mux_python.Configuration()
configuration.host = os.environ["MUX_BASE_URL"]
configuration.username = os.environ["MUX_TOKEN_ID"]
configuration.password = os.environ["MUX_TOKEN_SECRET"]
client = mux_python.ApiClient(configuration)
live = mux_python.LiveStreamsApi(client)
assets = mux_python.AssetsApi(client)
keys = mux_python.SigningKeysApi(client)


def step(msg):
    print(f"mux_python: {msg}", flush=True)


step("create")
request = mux_python.CreateLiveStreamRequest(
    playback_policy=[mux_python.PlaybackPolicy.PUBLIC],
    new_asset_settings=mux_python.CreateAssetRequest(playback_policy=[mux_python.PlaybackPolicy.PUBLIC]),
    reconnect_window=20,
)
created = live.create_live_stream(request).data
assert created.status == "idle", created.status
assert created.stream_key, "stream key shown"
assert created.playback_ids[0].policy == "public"

step("get")
got = live.get_live_stream(created.id).data
assert got.id == created.id and got.stream_key == created.stream_key

step("list with page, to an empty page")
others = [live.create_live_stream(mux_python.CreateLiveStreamRequest(playback_policy=["public"])).data for _ in range(2)]
seen = []
for page in range(1, 50):
    items = live.list_live_streams(limit=2, page=page).data
    if not items:
        break
    seen.extend(i.id for i in items)
else:
    sys.exit("list never reached an empty page")
assert len(seen) == len(set(seen)), "no live stream twice"
assert created.id in seen and all(o.id in seen for o in others)

step("assets list")
listed = assets.list_assets(live_stream_id=created.id).data
assert listed == [], listed

step("signing key create")
key = keys.create_signing_key().data
assert key.id and key.private_key
assert any(k.id == key.id for k in keys.list_signing_keys().data)

step("delete")
for ls in [created, *others]:
    live.delete_live_stream(ls.id)
try:
    live.get_live_stream(created.id)
    sys.exit("a deleted live stream was found")
except NotFoundException:
    pass
step("ok")
