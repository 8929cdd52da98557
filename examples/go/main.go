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
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	address := "127.0.0.1:50051"
	if len(os.Args) > 1 {
		address = os.Args[1]
	}
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
