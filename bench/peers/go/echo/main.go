// Peer: a TCP echo server, one goroutine per connection (the idiomatic Go
// shape, as weft's echo server is a fiber per connection). Measured by
// tools/run_io_peers.sh with the same load generator as weft.
//
// usage: echo [--port N] [--host ADDR]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or error
		}
	}
}

func main() {
	port := flag.Int("port", 7788, "TCP port")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *host, *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "go echo: listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and friends: keep serving the connections we have.
			log.Print(err)
			continue
		}
		go serve(c) // net.TCPConn has TCP_NODELAY on by default
	}
}
