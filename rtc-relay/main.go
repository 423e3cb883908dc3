package main

import (
	_ "github.com/livekit/server-sdk-go/v2"
	_ "github.com/pion/webrtc/v4"
)

func main() {}
