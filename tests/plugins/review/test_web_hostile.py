"""The review server against hostile or careless use: a chunked body as bounded as a sized one,
servers on one host that keep their own token cookies, options that cannot work refused, and
``/img/N`` serving only the image ingest recorded."""

import json
import os

import httpx
import pytest

from vlkd.core.errors import VlkdError
from vlkd.testing.fake_run import FakeRun, make_images, make_pairs


def client(server, **kwargs):
    return httpx.Client(base_url=f"http://127.0.0.1:{server.port}", **kwargs)


def test_a_chunked_body_is_bounded_like_a_sized_one(review_run, serve):
    server = serve(review_run.run_dir)
    with client(server) as c:
        page = c.get("/").text
        token = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])["csrf"]

        def body():  # no length: httpx sends it chunked
            yield b'{"action": "edit", "answer": "'
            for _ in range(3 * 1024):
                yield b"x" * 1024
            yield b'"}'

        r = c.post(
            "/api/image/0/pair/nope",
            content=body(),
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413, r.text


def test_two_servers_on_one_host_keep_their_own_token_cookies(review_run, tmp_path, serve):
    a = serve(review_run.run_dir, token="token-of-a")
    b = serve(review_run.run_dir, token="token-of-b")
    jar = httpx.Cookies()
    with client(a, cookies=jar) as ca, client(b, cookies=jar) as cb:
        assert ca.get("/?token=token-of-a", follow_redirects=True).status_code == 200
        assert cb.get("/?token=token-of-b", follow_redirects=True).status_code == 200
        jar.update(ca.cookies)
        jar.update(cb.cookies)
        # a browser sends a host's cookies to every port of it: both now go to both servers
        for c in (ca, cb):
            c.cookies = jar
        assert ca.get("/api/queue").status_code == 200  # opening B did not log A out
        assert cb.get("/api/queue").status_code == 200


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"token": ""}, "--token: empty"),
        ({"token": "   "}, "--token: empty"),
        ({"port": 99999}, "--port 99999: a port is a number from 1 to 65535"),
        ({"port": -1}, "--port -1"),
    ],
)
def test_options_that_cannot_work_are_refused(review_run, options, said):
    pytest.importorskip("starlette")
    from vlkd.plugins.review.web.server import ReviewServer

    with pytest.raises(VlkdError) as err:
        ReviewServer(review_run.run_dir, **{"port": 0, **options}).socket.close()
    assert said in str(err.value)


def test_review_serve_with_a_port_out_of_range_says_so_in_one_line(review_run):
    pytest.importorskip("starlette")
    from vlkd.testing.cli import run_vlkd

    done = run_vlkd(
        "review", "serve", str(review_run.run_dir), "--port", "99999", VLKD_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--port 99999" in done.stderr


def test_img_serves_only_what_ingest_recorded(tmp_path, serve):
    images = make_images(tmp_path / "images", 2)
    links = tmp_path / "links"
    links.mkdir()
    for image in images:  # the inputs were symlinks to the photos
        link = links / os.path.basename(image["path"])
        link.symlink_to(image["path"])
        image["path"] = str(link)
    run = FakeRun(
        tmp_path, {"review": {"plugin": "spreadsheet", "require_approval": True}}, images, make_pairs(images)
    )
    assert run.run()["status"] == "waiting"
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not what ingest read")
    server = serve(run.run_dir)
    with client(server) as c:
        first = c.get("/img/0")
        assert first.status_code == 200
        assert first.content == (tmp_path / "images" / os.path.basename(images[0]["path"])).read_bytes()
        link = links / os.path.basename(images[1]["path"])
        link.unlink()
        link.symlink_to(secret)  # swapped after ingest
        swapped = c.get("/img/1")
        assert swapped.status_code != 200
        assert b"not what ingest read" not in swapped.content
