// Peer: a net/http server answering "hello world\n" to every request, with
// HTTP/1.1 keep-alive (net/http's default). Measured with wrk by
// tools/run_io_peers.sh next to nginx and weft's examples/http_hello.
//
// usage: httphello [--port N] [--host ADDR]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

var body = []byte("hello world\n")

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	w.Write(body)
}

func main() {
	port := flag.Int("port", 8080, "TCP port")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	flag.Parse()
	addr := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Fprintf(os.Stderr, "go httphello: listening on %s\n", addr)
	log.Fatal(http.ListenAndServe(addr, http.HandlerFunc(hello)))
}
