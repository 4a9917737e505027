// Command go-gateway plays the gateway's side of a whole LinkCallPk battle against a running
// livepk server, with stubs generated from proto/ by protoc-gen-go and protoc-gen-go-grpc
// (scripts/clients.sh generates and builds them; nothing generated is committed).
//
// What it does, in the order a gateway meets it:
//
//  1. Probes health the way a Kubernetes gRPC probe does (grpc.health.v1.Health/Check with
//     the service "liveness", then "" and the mode's service for readiness), retrying until
//     SERVING.
//  2. Follows Events.Subscribe for its two anchors from a position taken before the battle,
//     drops the stream in the middle of the battle and resumes it with the last event_id seen.
//  3. Plays the battle of README "A whole LinkCallPk battle": profiles, rooms, open, apply,
//     link, confirm, start, gifts (with a duplicate retry), top 5, the automatic count at the
//     deadline, punishment, rematch, add time, close, leave.
//  4. Reads the business code of errors from the google.rpc.ErrorInfo detail (a bad field and
//     a Count after the deadline settled the battle).
//  5. Checks that the events it received through the two subscriptions are exactly the
//     events Events.Fetch returns for the same filter: nothing missed, nothing twice.
//
// Every call carries `authorization: Bearer <token>` when LIVEPK_AUTH_TOKEN (Admin calls:
// LIVEPK_ADMIN_TOKEN) is set, and a W3C `traceparent` so the server's spans join the
// gateway's trace. Exits non-zero with a message on the first thing that is not as expected.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	adminv1 "livepk/gen/pk/admin/v1"
	commonv1 "livepk/gen/pk/common/v1"
	eventsv1 "livepk/gen/pk/events/v1"
	giftv1 "livepk/gen/pk/gift/v1"
	linkcallv1 "livepk/gen/pk/linkcall/v1"
)

// The business codes of seed 000 §A this client meets (README "Errors").
const (
	codeInvalidParameter = "403400021"
	codeAlreadySettled   = "403400024"
)

// gateway holds the connection and the tokens; every call goes through its contexts.
type gateway struct {
	conn       *grpc.ClientConn
	authToken  string
	adminToken string
	// traceID is the W3C trace id of this run: every call sends a traceparent in it.
	traceID  string
	linkcall linkcallv1.LinkCallPkClient
	gifts    giftv1.GiftsClient
	events   eventsv1.EventsClient
	admin    adminv1.AdminClient
	health   healthpb.HealthClient
}

func randomHex(bytes int) string {
	buffer := make([]byte, bytes)
	if _, err := rand.Read(buffer); err != nil {
		log.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(buffer)
}

// callContext is a context for one gateway call: the bearer token (when set) and a
// traceparent naming this run's trace and a new parent span.
func (g *gateway) callContext(parent context.Context, token string) context.Context {
	pairs := []string{"traceparent", fmt.Sprintf("00-%s-%s-01", g.traceID, randomHex(8))}
	if token != "" {
		pairs = append(pairs, "authorization", "Bearer "+token)
	}
	return metadata.AppendToOutgoingContext(parent, pairs...)
}

func (g *gateway) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	return g.callContext(ctx, g.authToken), cancel
}

func (g *gateway) adminCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	return g.callContext(ctx, g.adminToken), cancel
}

// must stops the run on an error, naming the caller's line (the call that failed).
func must[T any](value T, err error) T {
	if err != nil {
		_ = log.Output(2, fmt.Sprintf("FAIL: %v", err))
		os.Exit(1)
	}
	return value
}

func check(condition bool, format string, args ...any) {
	if !condition {
		_ = log.Output(2, fmt.Sprintf("FAIL: "+format, args...))
		os.Exit(1)
	}
}

// businessError is what a gateway reads from a failed call: the gRPC code and the
// google.rpc.ErrorInfo detail's reason and metadata (`code`, `field`, ...).
type businessError struct {
	code     codes.Code
	reason   string
	metadata map[string]string
}

func errorInfo(err error) businessError {
	st, ok := status.FromError(err)
	check(ok, "not a gRPC status: %v", err)
	result := businessError{code: st.Code()}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			result.reason = info.GetReason()
			result.metadata = info.GetMetadata()
		}
	}
	check(result.metadata != nil, "status %v carries no ErrorInfo", st)
	return result
}

// probe is a Kubernetes gRPC probe: Health/Check with a service name, SERVING or not.
func (g *gateway) probe(service string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := g.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	return err == nil && reply.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

func (g *gateway) waitReady() {
	deadline := time.Now().Add(60 * time.Second)
	for _, service := range []string{"liveness", "", "pk.linkcall.v1.LinkCallPk", "pk.gift.v1.Gifts", "pk.events.v1.Events"} {
		for !g.probe(service) {
			check(time.Now().Before(deadline), "health %q not SERVING within 60 s", service)
			time.Sleep(200 * time.Millisecond)
		}
	}
	// An unknown service is NOT_FOUND, as the standard health service answers it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := g.health.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	check(status.Code(err) == codes.NotFound, "health of an unknown service: %v", err)
	log.Printf("health: liveness, readiness and every gateway service SERVING")
}

// subscriber follows Events.Subscribe and can drop and resume its stream like a gateway whose
// connection broke.
type subscriber struct {
	g      *gateway
	filter *eventsv1.EventFilter
	mu     sync.Mutex
	seen   []*eventsv1.Event
	failed error
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *subscriber) lastID(start string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return start
	}
	return s.seen[len(s.seen)-1].GetEventId()
}

func (s *subscriber) connect(after string) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	stream := must(s.g.events.Subscribe(
		s.g.callContext(ctx, s.g.authToken),
		&eventsv1.SubscribeRequest{AfterEventId: after, Filter: s.filter},
	))
	go func() {
		defer close(s.done)
		for {
			reply, err := stream.Recv()
			if err != nil {
				if err != io.EOF && status.Code(err) != codes.Canceled {
					s.mu.Lock()
					s.failed = err
					s.mu.Unlock()
				}
				return
			}
			check(!reply.GetTruncated(), "events were trimmed before this reader resumed")
			s.mu.Lock()
			s.seen = append(s.seen, reply.GetEvent())
			s.mu.Unlock()
		}
	}()
}

// disconnect drops the stream (the client cancels, as a broken connection would end it).
func (s *subscriber) disconnect() {
	s.cancel()
	<-s.done
	check(s.failed == nil, "Events/Subscribe failed: %v", s.failed)
}

func (s *subscriber) snapshot() []*eventsv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*eventsv1.Event(nil), s.seen...)
}

// fetchAll pages Events/Fetch after `after` until nothing newer exists.
func (g *gateway) fetchAll(after string, filter *eventsv1.EventFilter) ([]*eventsv1.Event, string) {
	var events []*eventsv1.Event
	for {
		ctx, cancel := g.ctx()
		page := must(g.events.Fetch(ctx, &eventsv1.FetchRequest{AfterEventId: after, Limit: 1000, Filter: filter}))
		cancel()
		check(!page.GetTruncated(), "Fetch: events trimmed")
		events = append(events, page.GetEvents()...)
		if page.GetLastEventId() == after {
			return events, after
		}
		after = page.GetLastEventId()
	}
}

type anchor struct{ id, sid uint64 }

func main() {
	address := flag.String("addr", "127.0.0.1:50051", "livepk gRPC address")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds | log.Lshortfile)
	log.SetPrefix("go-gateway ")

	conn := must(grpc.Dial(*address, grpc.WithInsecure()))
	defer conn.Close()
	g := &gateway{
		conn:       conn,
		authToken:  os.Getenv("LIVEPK_AUTH_TOKEN"),
		adminToken: os.Getenv("LIVEPK_ADMIN_TOKEN"),
		traceID:    randomHex(16),
		linkcall:   linkcallv1.NewLinkCallPkClient(conn),
		gifts:      giftv1.NewGiftsClient(conn),
		events:     eventsv1.NewEventsClient(conn),
		admin:      adminv1.NewAdminClient(conn),
		health:     healthpb.NewHealthClient(conn),
	}
	log.Printf("trace id %s (every call sends it in traceparent)", g.traceID)
	g.waitReady()

	if g.authToken != "" {
		// Without the token the gateway is turned away: UNAUTHENTICATED, business code 020.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := g.linkcall.UserSeekPk(ctx, &linkcallv1.UserSeekPkRequest{SingerId: 1, SingerSid: 1})
		cancel()
		check(status.Code(err) == codes.Unauthenticated, "a call without the token: %v", err)
		log.Printf("auth: a call without the bearer token is UNAUTHENTICATED")
	}

	// A short battle so the deadline comes within seconds (hot settings, seed 000 §B.0).
	for key, value := range map[string]string{"linkcall.pk_seconds": "3s", "linkcall.punish_seconds": "2s"} {
		ctx, cancel := g.adminCtx()
		entry := must(g.admin.SetConfig(ctx, &adminv1.SetConfigRequest{Key: key, Value: value})).GetEntry()
		cancel()
		check(entry.GetKey() == key, "SetConfig answered %v", entry)
	}

	// Ids of this run only, so the client can run again against the same server.
	base := uint64(time.Now().UnixNano()/1000%1_000_000_000) * 10
	host := anchor{id: base + 1, sid: base + 1 + 7_000_000_000}
	guest := anchor{id: base + 2, sid: base + 2 + 7_000_000_000}
	filter := &eventsv1.EventFilter{
		Modes: []commonv1.Mode{commonv1.Mode_MODE_LINKCALL},
		Targets: []*commonv1.Target{
			{Kind: commonv1.TargetKind_TARGET_KIND_ROOM, Id: host.sid},
			{Kind: commonv1.TargetKind_TARGET_KIND_ROOM, Id: guest.sid},
			{Kind: commonv1.TargetKind_TARGET_KIND_SINGER, Id: host.id},
			{Kind: commonv1.TargetKind_TARGET_KIND_SINGER, Id: guest.id},
		},
	}
	_, start := g.fetchAll("0", filter)
	sub := &subscriber{g: g, filter: filter}
	sub.connect(start)
	log.Printf("anchors %d (room %d) and %d (room %d); events from %s", host.id, host.sid, guest.id, guest.sid, start)

	lc := g.linkcall
	call := func(what string, run func(ctx context.Context) error) {
		ctx, cancel := g.ctx()
		defer cancel()
		if err := run(ctx); err != nil {
			log.Fatalf("%s: %v", what, err)
		}
	}

	// 1.1 both anchors log in, enter their rooms and open the function.
	for index, a := range []anchor{host, guest} {
		call("RefreshSingerProfile", func(ctx context.Context) error {
			reply, err := lc.RefreshSingerProfile(ctx, &linkcallv1.RefreshSingerProfileRequest{
				SingerId: a.id, SingerSid: a.sid, SingerNick: fmt.Sprintf("anchor %d", index+1), SingerStar: 3,
			})
			if err == nil {
				check(reply.GetSinger().GetSingerId() == a.id, "profile %v", reply)
			}
			return err
		})
		call("SingerComeInRoom", func(ctx context.Context) error {
			_, err := lc.SingerComeInRoom(ctx, &linkcallv1.SingerComeInRoomRequest{SingerId: a.id, SingerSid: a.sid})
			return err
		})
		call("OpenFunction", func(ctx context.Context) error {
			reply, err := lc.OpenFunction(ctx, &linkcallv1.OpenFunctionRequest{SingerId: a.id, SingerSid: a.sid, PkOpen: 1})
			if err == nil {
				check(reply.GetOpenState() == 1, "open_state %d", reply.GetOpenState())
			}
			return err
		})
	}
	// 2 the guest applies to the host; 8 the host sees the application.
	call("Apply", func(ctx context.Context) error {
		_, err := lc.Apply(ctx, &linkcallv1.ApplyRequest{GuestId: guest.id, GuestSid: guest.sid, HostId: host.id, HostSid: host.sid})
		return err
	})
	call("SeekLinkList", func(ctx context.Context) error {
		reply, err := lc.SeekLinkList(ctx, &linkcallv1.SeekLinkListRequest{SingerId: host.id, SingerSid: host.sid})
		if err == nil {
			found := false
			for _, singer := range reply.GetSingers() {
				found = found || singer.GetSingerId() == guest.id
			}
			check(found, "the guest is not on the host's link list: %v", reply.GetSingers())
		}
		return err
	})
	// 3.1 the host links (popup to the guest), 3.2 the guest agrees, 4.1 the host starts.
	call("Link", func(ctx context.Context) error {
		_, err := lc.Link(ctx, &linkcallv1.LinkRequest{HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
		return err
	})
	call("Confirm", func(ctx context.Context) error {
		_, err := lc.Confirm(ctx, &linkcallv1.ConfirmRequest{GuestId: guest.id, GuestSid: guest.sid, HostId: host.id, HostSid: host.sid, Code: linkcallv1.ConfirmCode_CONFIRM_CODE_AGREE})
		return err
	})
	var pkid uint64
	call("Start", func(ctx context.Context) error {
		reply, err := lc.Start(ctx, &linkcallv1.StartRequest{HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
		pkid = reply.GetPkid()
		return err
	})
	check(pkid != 0, "Start gave no pkid")
	log.Printf("battle %d scoring", pkid)

	// The gateway's connection to the event stream breaks here (once the first events of the
	// battle arrived); the battle goes on.
	for wait := time.Now().Add(10 * time.Second); len(sub.snapshot()) == 0 && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	sub.disconnect()
	seenBeforeBreak := len(sub.snapshot())
	check(seenBeforeBreak > 0, "no event arrived before the disconnect")

	// 7 gifts: two fans tie at 100 on the host (the first to reach it ranks first), one on the
	// guest; a retry of the first is recognised and not counted twice.
	now := uint64(time.Now().UnixMilli())
	gift := func(txn string, user, receiver, roomSid, value uint64) *giftv1.RecordGiftResponse {
		var reply *giftv1.RecordGiftResponse
		call("RecordGift "+txn, func(ctx context.Context) error {
			var err error
			reply, err = g.gifts.RecordGift(ctx, &giftv1.RecordGiftRequest{
				GiftTxnId:  fmt.Sprintf("go-%d-%s", base, txn),
				Sender:     &commonv1.UserProfile{UserId: user, UserNick: fmt.Sprintf("fan%d", user)},
				ReceiverId: receiver, RoomSid: roomSid, GiftId: 9, GiftCount: 1, UnitValue: value, SentAtMs: now,
			})
			return err
		})
		return reply
	}
	first := gift("tx-1", 77, host.id, host.sid, 100)
	check(!first.GetDuplicate() && len(first.GetChanges()) == 1 && first.GetChanges()[0].GetPkid() == pkid &&
		first.GetChanges()[0].GetSideTotal() == 100, "first gift: %v", first)
	gift("tx-2", 78, host.id, host.sid, 100)
	third := gift("tx-3", 79, guest.id, guest.sid, 50)
	check(third.GetChanges()[0].GetSideTotal() == 50, "guest's gift: %v", third)
	retry := gift("tx-1", 77, host.id, host.sid, 100)
	check(retry.GetDuplicate(), "the retry was not recognised as a duplicate: %v", retry)
	call("UserSeekGift", func(ctx context.Context) error {
		reply, err := lc.UserSeekGift(ctx, &linkcallv1.UserSeekGiftRequest{SingerId: host.id, SingerSid: host.sid})
		if err == nil {
			users := reply.GetUsers()
			check(len(users) == 2 && users[0].GetUserId() == 77 && users[0].GetUserGift() == 100 &&
				users[1].GetUserId() == 78, "top of the host: %v", users)
		}
		return err
	})

	// The gateway reconnects with the last event id it saw: the events of the gifts are there.
	sub.connect(sub.lastID(start))
	log.Printf("events: stream dropped after %d events, resumed after %s", seenBeforeBreak, sub.lastID(start))

	call("UserComeInRoom", func(ctx context.Context) error {
		reply, err := lc.UserComeInRoom(ctx, &linkcallv1.UserComeInRoomRequest{SingerId: host.id, SingerSid: host.sid})
		if err == nil {
			check(reply.GetPkid() == pkid && len(reply.GetPk()) == 1 && reply.GetPk()[0].GetHostGift() == 200 &&
				reply.GetPk()[0].GetGuestGift() == 50, "UserComeInRoom: %v", reply)
		}
		return err
	})
	call("SwitchScene", func(ctx context.Context) error {
		reply, err := lc.SwitchScene(ctx, &linkcallv1.SwitchSceneRequest{SingerId: host.id, SingerSid: host.sid})
		if err == nil {
			check(reply.GetPkScene() == 1, "scene %d", reply.GetPkScene())
		}
		return err
	})

	// 5.1 the deadline counts the battle by itself: punishment, the host won 200:50.
	seek := func() *linkcallv1.LinkcallpkPkInfo {
		var info *linkcallv1.LinkcallpkPkInfo
		call("UserSeekPk", func(ctx context.Context) error {
			reply, err := lc.UserSeekPk(ctx, &linkcallv1.UserSeekPkRequest{SingerId: host.id, SingerSid: host.sid})
			if len(reply.GetPk()) > 0 {
				info = reply.GetPk()[0]
			}
			return err
		})
		return info
	}
	waitPhase := func(phase linkcallv1.PkPhase) *linkcallv1.LinkcallpkPkInfo {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if info := seek(); info != nil && info.GetPhase() == phase {
				return info
			}
			check(time.Now().Before(deadline), "the battle did not reach %v within 30 s", phase)
			time.Sleep(100 * time.Millisecond)
		}
	}
	settled := waitPhase(linkcallv1.PkPhase_PK_PHASE_PUNISHMENT)
	check(settled.GetWinnerId() == host.id && settled.GetHostGift() == 200, "verdict: %v", settled)
	log.Printf("deadline counted battle %d: winner %d, %d:%d", pkid, settled.GetWinnerId(), settled.GetHostGift(), settled.GetGuestGift())

	// Errors: the seed's business code is in ErrorInfo, never in the message text.
	ctx, cancel := g.ctx()
	_, err := lc.Count(ctx, &linkcallv1.CountRequest{SingerId: host.id, HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
	cancel()
	late := errorInfo(err)
	check(late.code == codes.Aborted && late.metadata["code"] == codeAlreadySettled &&
		late.metadata["winner_id"] == fmt.Sprint(host.id), "Count after the deadline: %+v", late)
	ctx, cancel = g.ctx()
	_, err = lc.Apply(ctx, &linkcallv1.ApplyRequest{GuestId: 0, GuestSid: guest.sid, HostId: host.id, HostSid: host.sid})
	cancel()
	bad := errorInfo(err)
	check(bad.code == codes.InvalidArgument && bad.metadata["code"] == codeInvalidParameter &&
		bad.metadata["field"] == "guest_id", "Apply with guest_id 0: %+v", bad)
	log.Printf("errors: Count after the deadline %s %s (%s), guest_id 0 %s %s field %s",
		late.code, late.metadata["code"], late.reason, bad.code, bad.metadata["code"], bad.metadata["field"])

	ctx, cancel = g.adminCtx()
	record := must(g.admin.GetPkRecord(ctx, &adminv1.GetPkRecordRequest{Mode: commonv1.Mode_MODE_LINKCALL, Pkid: pkid})).GetRecord()
	cancel()
	check(record.GetWinnerId() == host.id, "the settled record: %v", record)

	// Punishment over: linked again; a rematch gets a new pkid; 5.2 add time; 5.3 close.
	waitPhase(linkcallv1.PkPhase_PK_PHASE_LINKED)
	var rematch uint64
	call("Start (rematch)", func(ctx context.Context) error {
		reply, err := lc.Start(ctx, &linkcallv1.StartRequest{HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
		rematch = reply.GetPkid()
		return err
	})
	check(rematch != 0 && rematch != pkid, "rematch pkid %d after %d", rematch, pkid)
	call("AddTime", func(ctx context.Context) error {
		reply, err := lc.AddTime(ctx, &linkcallv1.AddTimeRequest{HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
		if err == nil {
			check(reply.GetPkid() != rematch, "AddTime kept the pkid %d", rematch)
		}
		return err
	})
	call("Close", func(ctx context.Context) error {
		_, err := lc.Close(ctx, &linkcallv1.CloseRequest{SingerId: host.id, HostId: host.id, HostSid: host.sid, GuestId: guest.id, GuestSid: guest.sid})
		return err
	})
	for _, a := range []anchor{host, guest} {
		call("SingerLeave", func(ctx context.Context) error {
			_, err := lc.SingerLeave(ctx, &linkcallv1.SingerLeaveRequest{SingerId: a.id, SingerSid: a.sid})
			return err
		})
	}

	// Nothing missed, nothing twice: the two subscriptions together delivered exactly what
	// Fetch returns for the same filter, in the same order.
	expected, _ := g.fetchAll(start, filter)
	deadline := time.Now().Add(10 * time.Second)
	for len(sub.snapshot()) < len(expected) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	sub.disconnect()
	received := sub.snapshot()
	check(len(received) == len(expected), "subscribed %d events, Fetch has %d", len(received), len(expected))
	types := map[string]int{}
	for index, event := range received {
		check(event.GetEventId() == expected[index].GetEventId(), "event %d: subscribed %s, fetched %s",
			index, event.GetEventId(), expected[index].GetEventId())
		types[event.GetType()]++
	}
	check(len(received) > seenBeforeBreak, "nothing arrived after the resume")
	for _, name := range []string{"linkcallpk_singer_state_nt", "linkcallpk_room_pk_scene_nt", "linkcallpk_room_pk_info_nt",
		"linkcallpk_room_pk_singer_info_nt", "linkcallpk_singer_pklist_nt"} {
		check(types[name] > 0, "no %s among %v", name, types)
	}
	// A payload is the seed's message in an Any: unpack one.
	for _, event := range received {
		if event.GetType() == "linkcallpk_singer_state_nt" {
			nt := &linkcallv1.LinkcallpkSingerStateNt{}
			check(event.GetPayload().UnmarshalTo(nt) == nil, "payload of %s: %v", event.GetEventId(), event.GetPayload())
			check(nt.GetSingerId() == host.id || nt.GetSingerId() == guest.id, "state nt of %d", nt.GetSingerId())
			break
		}
	}
	log.Printf("events: %d received over two subscriptions = Fetch, in order, none twice: %v", len(received), types)
	fmt.Println("go-gateway: PASS (health, auth, LinkCallPk battle, gifts, errors, events resumed)")
}
