"""Hash banks over HTTP: HMA's paths and shapes for its clients, Image Finder's own banks,
match and review routes, and the scopes that guard them (a search token reads no bank)."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from image_finder.core.pictures.images import load_image
from image_finder.core.pictures.pdq import pdq_of
from image_finder.server.tokens import Scope, TokenStore
from tests.server.conftest import bearer

pytest.importorskip("pdqhash")


def jpeg(image: Image.Image, quality: int = 60) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_hma_clients_and_reviewers_find_known_pictures(serve, token, photo_source, library_dir):
    from image_finder.core.app.banks import check_watched, import_list
    from image_finder.core.banks.store import BankStore
    from image_finder.core.stores.library import Library

    coffee = load_image(photo_source / "coffee.jpg")
    known = pdq_of(coffee).hex
    listing = library_dir.parent / "known.csv"
    listing.write_text(f"hash,label\n{known},coffee leak\n")
    with Library(library_dir) as library:  # the library's pictures checked as they were indexed
        with BankStore(library_dir) as banks:
            banks.create("leaks", watch=True)
            import_list(banks, "leaks", str(listing))
        recorded = check_watched(library)
        coffee_id = library.item_by_path(photo_source / "coffee.jpg").id
    assert [(m["image_id"], m["bank"], m["signal"]) for m in recorded] == [
        (coffee_id, "leaks", "pdq")
    ]
    client = serve()
    main = bearer(token)
    searcher = bearer(TokenStore().create(Scope.SEARCH, "kiosk")[1])
    info, secret = TokenStore().create(Scope.MATCH, "moderator")
    matcher = bearer(secret)

    # HMA's paths and shapes
    hashed = client.post("/h/hash", files={"photo": ("c.jpg", jpeg(coffee, 92))}, headers=matcher)
    assert hashed.status_code == 200 and list(hashed.json()) == ["pdq"]
    assert client.get("/h/hash", params={"url": "http://example.com/a.jpg"},
                      headers=matcher).status_code == 400  # fmt: skip
    lookup = {"signal_type": "pdq", "signal": known}
    raw = client.get("/m/raw_lookup", params=lookup, headers=matcher).json()
    assert len(raw["matches"]) == 1 and isinstance(raw["matches"][0], int)
    far = client.get("/m/raw_lookup", params={**lookup, "include_distance": "true"},
                     headers=matcher).json()  # fmt: skip
    assert far == {"matches": [{"content_id": raw["matches"][0], "distance": "0"}]}
    assert client.get("/m/lookup", params=lookup, headers=matcher).json() == ["leaks"]
    posted = client.post("/m/lookup", files={"photo": ("c.jpg", jpeg(coffee.resize((300, 200))))},
                         headers=matcher)  # fmt: skip
    assert posted.json() == {"pdq": ["leaks"]}
    other = pdq_of(load_image(photo_source / "astronaut.jpg")).hex
    pair = {"signal_type": "pdq", "left": known, "right": other}
    compared = client.get("/m/compare", params=pair, headers=matcher).json()
    assert compared["pdq"][0] is False and compared["pdq"][1]["distance"] > 31
    same = client.post("/m/compare", json={"pdq": [known, known]}, headers=matcher).json()
    assert same == {"pdq": [True, {"distance": 0}]}
    assert client.get("/m/index/status", headers=matcher).json()["pdq"]["size"] == 1
    assert client.get("/c/banks", headers=matcher).json() == [
        {"name": "leaks", "matching_enabled_ratio": 1.0, "is_active": True}
    ]
    assert client.get("/m/lookup", params={**lookup, "signal_type": "md5"},
                      headers=matcher).status_code == 400  # fmt: skip

    # Image Finder's own: match an upload or library items; review what indexing recorded
    found = client.post("/api/v1/match", files={"file": ("x.jpg", jpeg(coffee, 40))},
                        headers=matcher).json()["matches"]  # fmt: skip
    assert [(m["bank"], m["signal"], m["path"]) for m in found] == [("leaks", "pdq", None)]
    by_id = client.post("/api/v1/match", json={"ids": [coffee_id]}, headers=matcher).json()
    assert by_id["matches"][0]["path"] == str(photo_source / "coffee.jpg")
    listed = client.get("/api/v1/matches", headers=matcher).json()["matches"]
    assert [m["id"] for m in listed] == [recorded[0]["id"]] and listed[0]["decision"] is None
    decided = client.post(f"/api/v1/matches/{listed[0]['id']}/decision",
                          json={"decision": "confirmed"}, headers=matcher).json()  # fmt: skip
    assert (decided["decision"], decided["decided_by"]) == ("confirmed", info.id)
    again = client.post(f"/api/v1/matches/{listed[0]['id']}/decision",
                        json={"decision": "dismissed"}, headers=main).json()  # fmt: skip
    assert (again["decision"], again["decided_by"]) == ("dismissed", "main")
    assert client.post("/api/v1/matches/999/decision", json={"decision": "confirmed"},
                       headers=main).status_code == 404  # fmt: skip
    assert client.post(f"/api/v1/matches/{listed[0]['id']}/decision", json={"decision": "maybe"},
                       headers=main).status_code == 422  # fmt: skip

    # banks: read with a match token, changed with a manage one; a search token sees none
    assert client.get("/api/v1/banks", headers=matcher).json()["banks"][0]["hashes"] == 1
    assert client.post("/api/v1/banks", json={"name": "more"}, headers=matcher).status_code == 403
    made = client.post("/api/v1/banks", json={"name": "more"}, headers=main)
    assert made.status_code == 201 and made.json()["hashes"] == 0
    listing_file = {"file": ("l.txt", f"pdq {other} astronaut\n".encode())}
    assert client.post("/api/v1/banks/more/hashes", files=listing_file,
                       headers=main).json() == {"bank": "more", "read": 1, "added": 1,
                                                "already": 0}  # fmt: skip
    broken = {"file": ("l.txt", b"not a hash\n")}
    refused = client.post("/api/v1/banks/more/hashes", files=broken, headers=main)
    assert refused.status_code == 422 and "line 1" in refused.json()["error"]["message"]
    csv = client.get("/api/v1/banks/more/hashes", headers=matcher)
    assert csv.text.splitlines() == ["hash,label", f"{other},astronaut"]
    for path in ("/api/v1/banks", "/api/v1/matches", "/c/banks", "/m/index/status"):
        assert client.get(path, headers=searcher).status_code == 403, path
    assert client.get("/m/lookup", params=lookup).status_code == 401
    assert client.delete("/api/v1/banks/more", headers=main).json() == {"removed": "more"}
    assert client.delete("/api/v1/banks/more", headers=main).status_code == 404


def test_a_server_streams_and_posts_matches_as_they_are_recorded(library_dir, lite0, photo_source):
    import json
    import queue
    import threading
    import urllib.error
    import urllib.request

    from image_finder.core.app.banks import add_webhook, check_watched, import_list
    from image_finder.core.banks.store import BankStore
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig
    from tests.core.banks.test_webhooks import receiving, signed
    from tests.server.test_browser import free_port, serving

    listing = library_dir.parent / "known.csv"
    listing.write_text(f"{pdq_of(load_image(photo_source / 'coffee.jpg')).hex},coffee leak\n")
    matcher = bearer(TokenStore().create(Scope.MATCH, "moderator")[1])
    main = bearer(TokenStore().create(Scope.MANAGE, "admin")[1])
    port = free_port()
    with receiving([]) as receiver, Library(library_dir) as library:
        with BankStore(library_dir) as banks:
            banks.create("leaks", watch=True)
            import_list(banks, "leaks", str(listing))
        _, secret = add_webhook(library, receiver.url)
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url:
            events: queue.Queue[str] = queue.Queue()

            def listen(headers: dict[str, str]) -> None:
                request = urllib.request.Request(f"{url}/api/v1/matches/events", headers=headers)
                with urllib.request.urlopen(request, timeout=30) as stream:
                    for line in stream:
                        if line.startswith((b"id:", b"data:")):
                            events.put(line.decode().strip())

            threading.Thread(target=listen, args=(matcher,), daemon=True).start()
            time.sleep(1.0)  # listening from now on
            recorded = check_watched(library)  # as another process's indexing records them
            assert [m["bank"] for m in recorded] == ["leaks"]
            assert events.get(timeout=20) == f"id: {recorded[0]['id']}"
            assert json.loads(events.get(timeout=5)[5:])["label"] == "coffee leak"
            assert receiver.arrived.wait(20)  # the server's sender POSTed it
            headers, body = receiver.got[0]
            assert signed(secret, headers, body)
            assert [m["id"] for m in json.loads(body)["matches"]] == [recorded[0]["id"]]

            resumed: queue.Queue[str] = queue.Queue()  # a client back, from its last event
            events = resumed
            threading.Thread(target=listen, args=({**matcher, "Last-Event-ID": "0"},),
                             daemon=True).start()  # fmt: skip
            assert resumed.get(timeout=20) == f"id: {recorded[0]['id']}"
            for headers, status in ((matcher, 403), (main, 200)):
                request = urllib.request.Request(f"{url}/api/v1/webhooks", headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        listed = json.loads(answer.read())
                        assert status == 200
                except urllib.error.HTTPError as error:
                    assert error.code == status
            assert listed["webhooks"][0]["delivered"] == 1
            assert secret not in json.dumps(listed) and "secret" not in listed["webhooks"][0]
