#!/usr/bin/env python3
"""A stand-in for the original Python Checker (tomrittervg/checker), speaking its peer
protocol exactly, for checker's compatibility tests. Standard library only.

  peer_standin.py serve WORDFILE
      The original's status site (servers.py, StatusSite): every GET, whatever the path,
      is answered 200 with the bare word -- True, MailProblem or JobProblem -- read from
      WORDFILE at each request. Prints the port it listens on (127.0.0.1) first.

  peer_standin.py check URL
      The original's peer check (jobs/PeerChecker.py): GET the URL with a 5 s timeout;
      a status other than 200 fails; else "True" in the body is healthy, then
      "MailProblem", then "JobProblem", else an unexpected response. Prints the original's
      subject line (or "OK <body>") and exits 0 when healthy, 1 when not.
"""

import http.server
import sys
import urllib.error
import urllib.request


class StatusSite(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(self.server.word_file, encoding="utf-8") as f:
            body = f.read().strip().encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(word_file):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StatusSite)
    server.word_file = word_file
    print(server.server_address[1], flush=True)
    server.serve_forever()


def check(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, content = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, content = e.code, e.read()
    except Exception as e:  # the original catches everything: "is not responding"
        print(url + " is not responding. " + repr(e))
        return 1
    if status != 200:
        print(url + " returned a non-standard status code. " + str(status))
        return 1
    content = content.decode("utf-8")
    if "True" in content:
        print("OK " + content)
        return 0
    elif "MailProblem" in content:
        print(url + " reports it cannot send email.")
    elif "JobProblem" in content:
        print(url + " reports its jobs are not running.")
    else:
        print(url + " had an unexpected response.")
    return 1


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        serve(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
