// A Go service asking Keyward whether a key may read orders.
//
//	npx buf generate && KEYWARD_API_KEY=kw_live_… go run . 127.0.0.1:50051
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	keywardv1 "example.com/keyward-client/gen/keyward/v1"
	"google.golang.org/grpc"
)

func main() {
	address := "127.0.0.1:50051"
	if len(os.Args) > 1 {
		address = os.Args[1]
	}
	// grpc.Dial and WithInsecure build on every grpc-go 1.x, Debian's 1.33 included (the tests build
	// with it); on 1.63 and later, grpc.NewClient with insecure.NewCredentials() is the newer spelling.
	// Plaintext suits a loopback or mesh sidecar; use grpc.WithTransportCredentials for TLS.
	conn, err := grpc.Dial(address, grpc.WithInsecure()) //nolint:staticcheck // see above

	if err != nil {
		fmt.Fprintln(os.Stderr, "keyward:", err)
		os.Exit(1)
	}
	defer conn.Close()

	// An auth call: a short deadline; a denial is an answer (allowed=false), not an error.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	answer, err := keywardv1.NewAuthorizeServiceClient(conn).Authorize(ctx, &keywardv1.AuthorizeRequest{
		ApiKey:         os.Getenv("KEYWARD_API_KEY"),
		RequiredScopes: []string{"orders:read"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyward:", err) // UNAVAILABLE, DEADLINE_EXCEEDED: fail closed
		os.Exit(1)
	}
	fmt.Printf("allowed=%v reason=%v http_status=%d key_id=%s\n",
		answer.GetAllowed(), answer.GetReason(), answer.GetHttpStatus(), answer.GetKeyId())
}
