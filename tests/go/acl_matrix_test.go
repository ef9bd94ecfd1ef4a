// The ACL matrix: every Kafka API the broker serves, sent by franz-go's kmsg
// as User:alice (SASL_PLAINTEXT, SCRAM-SHA-256) straight to the one broker.
// For each API: denied without an ACL (with the error code Kafka returns),
// allowed with exactly the bindings Kafka requires (literal, then prefixed
// when the resource is named), denied again once a DENY for User:* covers
// it (DENY beats ALLOW), and allowed for the super user (User:ANONYMOUS on
// the PLAINTEXT listener) with no binding at all. Also: a partition carried
// over in an incremental fetch session (KIP-227) is re-authorized on every
// Fetch, so revoking Read stops a consumer mid-session.
//
// Run from tests/cluster/test_acl_matrix.py, which starts the broker with
// authorizer.class.name set, creates alice and sets:
//
//	SLUICE_ADMIN_BOOTSTRAP  the PLAINTEXT listener (super user)
//	SLUICE_BOOTSTRAP        the SASL_PLAINTEXT listener
//	SLUICE_SASL_USER, SLUICE_SASL_PASSWORD
package sluicego

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Kafka's authorization error codes.
const (
	errTopicAuth   int16 = 29
	errGroupAuth   int16 = 30
	errClusterAuth int16 = 31
	errTxnIDAuth   int16 = 53
)

const (
	mxTopic       = "mx-topic"       // read, described, configured: never changed
	mxDeleteTopic = "mx-delete"      // DeleteTopics deletes it
	mxCreateTopic = "mx-create"      // CreateTopics creates it
	mxMarkerTopic = "mx-markers"     // WriteTxnMarkers writes to it
	mxGroup       = "mx-group"       // has a committed offset
	mxDeleteGroup = "mx-group-del"   // DeleteGroups deletes it
	mxTxn         = "mx-txn"         // a transactional id the coordinator knows
	mxNewTxn      = "mx-txn-new"     // InitProducerId as alice
	clusterName   = "kafka-cluster"  // Kafka's only CLUSTER resource
	alicePrefixed = "alice-prefixed" // marks the prefixed run in messages
)

type binding struct {
	rtype kmsg.ACLResourceType
	name  string
	op    kmsg.ACLOperation
}

func topicACL(name string, op kmsg.ACLOperation) binding {
	return binding{kmsg.ACLResourceTypeTopic, name, op}
}

func groupACL(name string, op kmsg.ACLOperation) binding {
	return binding{kmsg.ACLResourceTypeGroup, name, op}
}

func clusterACL(op kmsg.ACLOperation) binding {
	return binding{kmsg.ACLResourceTypeCluster, clusterName, op}
}

func txnACL(name string, op kmsg.ACLOperation) binding {
	return binding{kmsg.ACLResourceTypeTransactionalId, name, op}
}

type matrixCase struct {
	name   string
	req    func() kmsg.Request
	denied int16     // the code somewhere in the answer without the ACL
	acls   []binding // exactly what Kafka requires
	base   []binding // granted throughout: the case tests the part it lacks
	// For the APIs that filter instead of refusing (ListGroups,
	// ListTransactions): whether the resource is in the answer.
	visible func(kmsg.Response) bool
}

// errorCodes: every int16 field named ErrorCode anywhere in the response.
func errorCodes(v reflect.Value, out *[]int16) {
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if !v.IsNil() {
			errorCodes(v.Elem(), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
				*out = append(*out, int16(v.Field(i).Int()))
			} else {
				errorCodes(v.Field(i), out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			errorCodes(v.Index(i), out)
		}
	}
}

func codesOf(resp kmsg.Response) []int16 {
	var out []int16
	errorCodes(reflect.ValueOf(resp), &out)
	return out
}

func isAuthCode(c int16) bool {
	return c == errTopicAuth || c == errGroupAuth || c == errClusterAuth || c == errTxnIDAuth
}

type matrix struct {
	t     *testing.T
	ctx   context.Context
	admin *kgo.Client
	alice *kgo.Client
}

func (m *matrix) send(cl *kgo.Client, req kmsg.Request) kmsg.Response {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		m.t.Fatalf("%T: %v", req, err)
	}
	return resp
}

func (m *matrix) alter(creations []kmsg.CreateACLsRequestCreation) {
	m.t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = creations
	resp := m.send(m.admin, req).(*kmsg.CreateACLsResponse)
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			m.t.Fatalf("CreateAcls: error %d %v", r.ErrorCode, r.ErrorMessage)
		}
	}
}

func creation(b binding, pattern kmsg.ACLResourcePatternType, principal string,
	perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType = b.rtype
	c.ResourceName = b.name
	c.ResourcePatternType = pattern
	c.Principal = principal
	c.Host = "*"
	c.Operation = b.op
	c.PermissionType = perm
	return c
}

// clearACLs deletes every binding (the super user needs none).
func (m *matrix) clearACLs() {
	m.t.Helper()
	req := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType = kmsg.ACLResourceTypeAny
	f.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	f.Operation = kmsg.ACLOperationAny
	f.PermissionType = kmsg.ACLPermissionTypeAny
	req.Filters = []kmsg.DeleteACLsRequestFilter{f}
	resp := m.send(m.admin, req).(*kmsg.DeleteACLsResponse)
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			m.t.Fatalf("DeleteAcls: error %d", r.ErrorCode)
		}
	}
}

// prefixOf: the prefixed pattern that covers `b` (CLUSTER has one name and
// no prefixed form worth testing).
func prefixOf(b binding) (binding, bool) {
	if b.rtype == kmsg.ACLResourceTypeCluster || len(b.name) < 4 {
		return b, false
	}
	b.name = b.name[:len(b.name)-2]
	return b, true
}

func (m *matrix) expectDenied(c matrixCase, who string) {
	m.t.Helper()
	resp := m.send(m.alice, c.req())
	if c.visible != nil {
		if c.visible(resp) {
			m.t.Errorf("%s (%s): the resource is listed", c.name, who)
		}
		return
	}
	codes := codesOf(resp)
	for _, code := range codes {
		if code == c.denied {
			m.t.Logf("%s (%s): denied, codes %v", c.name, who, codes)
			return
		}
	}
	m.t.Errorf("%s (%s): error codes %v, want %d among them", c.name, who, codes, c.denied)
}

func (m *matrix) expectAllowed(cl *kgo.Client, c matrixCase, who string) {
	m.t.Helper()
	resp := m.send(cl, c.req())
	if c.visible != nil {
		if !c.visible(resp) {
			m.t.Errorf("%s (%s): the resource is not listed", c.name, who)
		}
		return
	}
	m.t.Logf("%s (%s): allowed, codes %v", c.name, who, codesOf(resp))
	for _, code := range codesOf(resp) {
		if isAuthCode(code) {
			m.t.Errorf("%s (%s): error codes %v include an authorization failure", c.name,
				who, codesOf(resp))
			return
		}
	}
}

func (m *matrix) run(c matrixCase) {
	allow := func(pattern kmsg.ACLResourcePatternType, bs []binding) {
		var cs []kmsg.CreateACLsRequestCreation
		for _, b := range bs {
			cs = append(cs, creation(b, pattern, "User:alice", kmsg.ACLPermissionTypeAllow))
		}
		if len(cs) > 0 {
			m.alter(cs)
		}
	}
	m.clearACLs()
	allow(kmsg.ACLResourcePatternTypeLiteral, c.base)
	m.expectDenied(c, "no ACL")
	allow(kmsg.ACLResourcePatternTypeLiteral, c.acls)
	m.expectAllowed(m.alice, c, "literal ALLOW")
	// DENY for everyone on the first required binding beats alice's ALLOW.
	m.alter([]kmsg.CreateACLsRequestCreation{creation(c.acls[0], kmsg.ACLResourcePatternTypeLiteral,
		"User:*", kmsg.ACLPermissionTypeDeny)})
	m.expectDenied(c, "DENY beats ALLOW")
	// The same bindings as prefixed patterns, where the resource is named.
	m.clearACLs()
	allow(kmsg.ACLResourcePatternTypeLiteral, c.base)
	var prefixed []binding
	anyPrefixed := false
	for _, b := range c.acls {
		p, ok := prefixOf(b)
		anyPrefixed = anyPrefixed || ok
		prefixed = append(prefixed, p)
	}
	if anyPrefixed {
		var cs []kmsg.CreateACLsRequestCreation
		for i, b := range prefixed {
			pattern := kmsg.ACLResourcePatternTypePrefixed
			if b.rtype == kmsg.ACLResourceTypeCluster || b == c.acls[i] {
				pattern = kmsg.ACLResourcePatternTypeLiteral
			}
			cs = append(cs, creation(b, pattern, "User:alice", kmsg.ACLPermissionTypeAllow))
		}
		m.alter(cs)
		m.expectAllowed(m.alice, c, "prefixed ALLOW")
		m.clearACLs()
	}
	m.expectAllowed(m.admin, c, "super user")
}

func matrixClients(t *testing.T) (*kgo.Client, *kgo.Client) {
	adminAddr, aliceAddr := os.Getenv("SLUICE_ADMIN_BOOTSTRAP"), os.Getenv("SLUICE_BOOTSTRAP")
	if adminAddr == "" || aliceAddr == "" {
		t.Fatal("SLUICE_ADMIN_BOOTSTRAP / SLUICE_BOOTSTRAP not set (run via " +
			"tests/cluster/test_acl_matrix.py)")
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(adminAddr))
	if err != nil {
		t.Fatal(err)
	}
	auth := scram.Auth{User: os.Getenv("SLUICE_SASL_USER"), Pass: os.Getenv("SLUICE_SASL_PASSWORD")}
	alice, err := kgo.NewClient(kgo.SeedBrokers(aliceAddr), kgo.SASL(auth.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	return admin, alice
}

// retrying sends `req` as the super user until no error code in the answer
// is a retriable coordinator one (the offsets and transaction topics are
// created on first use), and returns the last answer.
func (m *matrix) retrying(req func() kmsg.Request) kmsg.Response {
	m.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp := m.send(m.admin, req())
		retry := false
		for _, code := range codesOf(resp) {
			// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
			// NOT_COORDINATOR, CONCURRENT_TRANSACTIONS
			retry = retry || code == 14 || code == 15 || code == 16 || code == 51
		}
		if !retry || time.Now().After(deadline) {
			return resp
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setup: the resources the requests name, made by the super user.
func (m *matrix) setup() (producerID int64, producerEpoch int16) {
	m.t.Helper()
	create := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range []string{mxTopic, mxDeleteTopic, mxMarkerTopic} {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic = name
		ct.NumPartitions = 1
		ct.ReplicationFactor = 1
		create.Topics = append(create.Topics, ct)
	}
	create.TimeoutMillis = 30000
	for _, r := range m.send(m.admin, create).(*kmsg.CreateTopicsResponse).Topics {
		if r.ErrorCode != 0 && r.ErrorCode != 36 {
			m.t.Fatalf("create %s: %d", r.Topic, r.ErrorCode)
		}
	}
	res := m.admin.ProduceSync(m.ctx, &kgo.Record{Topic: mxTopic, Value: []byte("one")})
	if err := res.FirstErr(); err != nil {
		m.t.Fatalf("produce: %v", err)
	}
	// FindCoordinator first, as clients do: it creates the coordinators' topics.
	for keyType, key := range []string{mxGroup, mxTxn} {
		keyType, key := keyType, key
		find := func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorType = int8(keyType)
			r.CoordinatorKey = key
			r.CoordinatorKeys = []string{key}
			return r
		}
		for _, code := range codesOf(m.retrying(find)) {
			if code != 0 {
				m.t.Fatalf("FindCoordinator %s: %d", key, code)
			}
		}
	}
	for _, g := range []string{mxGroup, mxDeleteGroup} {
		g := g
		commit := func() kmsg.Request {
			return commitRequest(g)
		}
		for _, code := range codesOf(m.retrying(commit)) {
			if code != 0 {
				m.t.Fatalf("commit for %s: %d", g, code)
			}
		}
	}
	txn := func() kmsg.Request {
		r := kmsg.NewPtrInitProducerIDRequest()
		txnID := mxTxn
		r.TransactionalID = &txnID
		r.TransactionTimeoutMillis = 60000
		return r
	}
	if r := m.retrying(txn).(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 {
		m.t.Fatalf("InitProducerId %s: %d", mxTxn, r.ErrorCode)
	}
	idem := m.send(m.admin, kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if idem.ErrorCode != 0 {
		m.t.Fatalf("InitProducerId: %d", idem.ErrorCode)
	}
	return idem.ProducerID, idem.ProducerEpoch
}

func commitRequest(group string) kmsg.Request {
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group = group
	commit.Generation = -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = mxTopic
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Offset = 1
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	return commit
}

// txnOffsetCommit: offsets of mxGroup sent in a transaction of the
// producer (left pending: no marker follows).
func txnOffsetCommit(producerID int64, producerEpoch int16) kmsg.Request {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.TransactionalID = mxTxn
	r.Group = mxGroup
	r.ProducerID = producerID
	r.ProducerEpoch = producerEpoch
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic = mxTopic
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Offset = 1
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func matrixCases(producerID int64, producerEpoch int16) []matrixCase {
	str := func(s string) *string { return &s }
	// Requests sent by more than one case (each case lacks another binding).
	offsetForLeaderEpoch := func() kmsg.Request {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = mxTopic
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.CurrentLeaderEpoch = -1
		p.LeaderEpoch = 0
		t.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{p}
		r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{t}
		return r
	}
	createTopics := func(validateOnly bool) func() kmsg.Request {
		return func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic = mxCreateTopic
			t.NumPartitions = 1
			t.ReplicationFactor = 1
			r.Topics = append(r.Topics, t)
			r.TimeoutMillis = 30000
			r.ValidateOnly = validateOnly
			return r
		}
	}
	offsetDelete := func() kmsg.Request {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = mxGroup
		t := kmsg.NewOffsetDeleteRequestTopic()
		t.Topic = "mx-unconsumed"
		p := kmsg.NewOffsetDeleteRequestTopicPartition()
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}
	describeConfigs := func(rtype kmsg.ConfigResourceType, name string) func() kmsg.Request {
		return func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType = rtype
			res.ResourceName = name
			r.Resources = append(r.Resources, res)
			return r
		}
	}
	alterConfigs := func(rtype kmsg.ConfigResourceType, name string) func() kmsg.Request {
		return func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.ValidateOnly = true
			res := kmsg.NewAlterConfigsRequestResource()
			res.ResourceType = rtype
			res.ResourceName = name
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name = "retention.ms"
			c.Value = str("86400000")
			res.Configs = append(res.Configs, c)
			r.Resources = append(r.Resources, res)
			return r
		}
	}
	groupListed := func(resp kmsg.Response) bool {
		for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
			if g.Group == mxGroup {
				return true
			}
		}
		return false
	}
	return []matrixCase{
		{name: "Metadata", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = str(mxTopic)
				r.Topics = append(r.Topics, t)
				r.AllowAutoTopicCreation = false
				return r
			}},
		{name: "Fetch", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrFetchRequest()
				r.MaxBytes = 1 << 20
				r.SessionEpoch = -1
				t := kmsg.NewFetchRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewFetchRequestTopicPartition()
				p.PartitionMaxBytes = 1 << 20
				p.CurrentLeaderEpoch = -1
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}},
		{name: "ListOffsets", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrListOffsetsRequest()
				t := kmsg.NewListOffsetsRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewListOffsetsRequestTopicPartition()
				p.Timestamp = -1
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}},
		{name: "OffsetForLeaderEpoch", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationDescribe)},
			req:  offsetForLeaderEpoch},
		{name: "OffsetForLeaderEpoch as a replica", denied: errTopicAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationClusterAction)},
			req:  offsetForLeaderEpoch},
		{name: "CreateTopics", denied: errTopicAuth,
			acls: []binding{topicACL(mxCreateTopic, kmsg.ACLOperationCreate)},
			req:  createTopics(false)},
		{name: "CreateTopics on the cluster", denied: errTopicAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationCreate)},
			req:  createTopics(true)},
		{name: "DeleteTopics", denied: errTopicAuth,
			acls: []binding{topicACL(mxDeleteTopic, kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				t := kmsg.NewDeleteTopicsRequestTopic()
				t.Topic = str(mxDeleteTopic)
				r.Topics = append(r.Topics, t)
				r.TopicNames = []string{mxDeleteTopic}
				r.TimeoutMillis = 30000
				return r
			}},
		{name: "CreatePartitions", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrCreatePartitionsRequest()
				t := kmsg.NewCreatePartitionsRequestTopic()
				t.Topic = mxTopic
				t.Count = 2
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				r.ValidateOnly = true
				return r
			}},
		{name: "DeleteRecords", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteRecordsRequest()
				t := kmsg.NewDeleteRecordsRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewDeleteRecordsRequestTopicPartition()
				p.Offset = 0
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		{name: "DescribeConfigs topic", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationDescribeConfigs)},
			req:  describeConfigs(kmsg.ConfigResourceTypeTopic, mxTopic)},
		{name: "DescribeConfigs broker", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribeConfigs)},
			req:  describeConfigs(kmsg.ConfigResourceTypeBroker, "")},
		{name: "AlterConfigs topic", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationAlterConfigs)},
			req:  alterConfigs(kmsg.ConfigResourceTypeTopic, mxTopic)},
		{name: "AlterConfigs broker", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlterConfigs)},
			req:  alterConfigs(kmsg.ConfigResourceTypeBroker, "")},
		{name: "IncrementalAlterConfigs topic", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationAlterConfigs)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrIncrementalAlterConfigsRequest()
				r.ValidateOnly = true
				res := kmsg.NewIncrementalAlterConfigsRequestResource()
				res.ResourceType = kmsg.ConfigResourceTypeTopic
				res.ResourceName = mxTopic
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name = "retention.ms"
				c.Op = kmsg.IncrementalAlterConfigOpSet
				c.Value = str("86400000")
				res.Configs = append(res.Configs, c)
				r.Resources = append(r.Resources, res)
				return r
			}},
		{name: "FindCoordinator", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrFindCoordinatorRequest()
				r.CoordinatorKey = mxGroup
				r.CoordinatorKeys = []string{mxGroup}
				return r
			}},
		{name: "FindCoordinator transaction", denied: errTxnIDAuth,
			acls: []binding{txnACL(mxTxn, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrFindCoordinatorRequest()
				r.CoordinatorType = 1
				r.CoordinatorKey = mxTxn
				r.CoordinatorKeys = []string{mxTxn}
				return r
			}},
		{name: "JoinGroup", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrJoinGroupRequest()
				r.Group = mxGroup
				r.SessionTimeoutMillis = 10000
				r.RebalanceTimeoutMillis = 10000
				r.ProtocolType = "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				r.Protocols = append(r.Protocols, p)
				return r
			}},
		{name: "SyncGroup", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrSyncGroupRequest()
				r.Group = mxGroup
				r.MemberID = "nobody"
				return r
			}},
		{name: "Heartbeat", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrHeartbeatRequest()
				r.Group = mxGroup
				r.MemberID = "nobody"
				return r
			}},
		{name: "LeaveGroup", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Group = mxGroup
				r.MemberID = "nobody"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "nobody"
				r.Members = append(r.Members, m)
				return r
			}},
		{name: "OffsetCommit", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead),
				topicACL(mxTopic, kmsg.ACLOperationRead)},
			req: func() kmsg.Request { return commitRequest(mxGroup) }},
		{name: "OffsetCommit without topic Read", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationRead)},
			base: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			req:  func() kmsg.Request { return commitRequest(mxGroup) }},
		{name: "TxnOffsetCommit", denied: errTxnIDAuth,
			acls: []binding{txnACL(mxTxn, kmsg.ACLOperationWrite),
				groupACL(mxGroup, kmsg.ACLOperationRead), topicACL(mxTopic, kmsg.ACLOperationRead)},
			req: func() kmsg.Request { return txnOffsetCommit(producerID, producerEpoch) }},
		{name: "TxnOffsetCommit without group Read", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationRead)},
			base: []binding{txnACL(mxTxn, kmsg.ACLOperationWrite),
				topicACL(mxTopic, kmsg.ACLOperationRead)},
			req: func() kmsg.Request { return txnOffsetCommit(producerID, producerEpoch) }},
		{name: "TxnOffsetCommit without topic Read", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationRead)},
			base: []binding{txnACL(mxTxn, kmsg.ACLOperationWrite),
				groupACL(mxGroup, kmsg.ACLOperationRead)},
			req: func() kmsg.Request { return txnOffsetCommit(producerID, producerEpoch) }},
		{name: "OffsetFetch", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrOffsetFetchRequest()
				r.Group = mxGroup
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = mxGroup
				r.Groups = append(r.Groups, g)
				return r
			}},
		{name: "DescribeGroups", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Groups = []string{mxGroup}
				return r
			}},
		{name: "ListGroups by group", visible: groupListed,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationDescribe)},
			req:  func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() }},
		{name: "ListGroups by cluster", visible: groupListed,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribe)},
			req:  func() kmsg.Request { return kmsg.NewPtrListGroupsRequest() }},
		{name: "OffsetDelete", denied: errGroupAuth,
			acls: []binding{groupACL(mxGroup, kmsg.ACLOperationDelete),
				topicACL("mx-unconsumed", kmsg.ACLOperationRead)},
			req: offsetDelete},
		{name: "OffsetDelete without topic Read", denied: errTopicAuth,
			acls: []binding{topicACL("mx-unconsumed", kmsg.ACLOperationRead)},
			base: []binding{groupACL(mxGroup, kmsg.ACLOperationDelete)},
			req:  offsetDelete},
		{name: "DeleteGroups", denied: errGroupAuth,
			acls: []binding{groupACL(mxDeleteGroup, kmsg.ACLOperationDelete)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Groups = []string{mxDeleteGroup}
				return r
			}},
		{name: "InitProducerId transactional", denied: errTxnIDAuth,
			acls: []binding{txnACL(mxNewTxn, kmsg.ACLOperationWrite)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrInitProducerIDRequest()
				r.TransactionalID = str(mxNewTxn)
				r.TransactionTimeoutMillis = 60000
				return r
			}},
		{name: "InitProducerId idempotent", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationIdempotentWrite)},
			req:  func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() }},
		{name: "InitProducerId idempotent by topic Write", denied: errClusterAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationWrite)},
			req:  func() kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() }},
		{name: "DescribeProducers", denied: errTopicAuth,
			acls: []binding{topicACL(mxTopic, kmsg.ACLOperationRead)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeProducersRequest()
				t := kmsg.NewDescribeProducersRequestTopic()
				t.Topic = mxTopic
				t.Partitions = []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			}},
		{name: "DescribeTransactions", denied: errTxnIDAuth,
			acls: []binding{txnACL(mxTxn, kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeTransactionsRequest()
				r.TransactionalIDs = []string{mxTxn}
				return r
			}},
		{name: "ListTransactions",
			acls: []binding{txnACL(mxTxn, kmsg.ACLOperationDescribe)},
			req:  func() kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
			visible: func(resp kmsg.Response) bool {
				for _, s := range resp.(*kmsg.ListTransactionsResponse).TransactionStates {
					if s.TransactionalID == mxTxn {
						return true
					}
				}
				return false
			}},
		{name: "WriteTxnMarkers", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationClusterAction)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrWriteTxnMarkersRequest()
				mk := kmsg.NewWriteTxnMarkersRequestMarker()
				mk.ProducerID = producerID
				mk.ProducerEpoch = producerEpoch
				mk.Committed = false
				mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				mt.Topic = mxMarkerTopic
				mt.Partitions = []int32{0}
				mk.Topics = append(mk.Topics, mt)
				r.Markers = append(r.Markers, mk)
				return r
			}},
		{name: "DescribeUserScramCredentials", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribe)},
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() }},
		{name: "AlterUserScramCredentials", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
				d.Name = "nobody"
				d.Mechanism = 1
				r.Deletions = append(r.Deletions, d)
				return r
			}},
		{name: "DescribeLogDirs", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribe)},
			req:  func() kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() }},
		{name: "ElectLeaders", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic = mxTopic
				t.Partitions = []int32{0}
				r.Topics = append(r.Topics, t)
				r.TimeoutMillis = 30000
				return r
			}},
		{name: "AlterPartitionReassignments", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				r.TimeoutMillis = 30000
				t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				t.Topic = mxTopic
				p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				p.Replicas = nil // cancel: nothing in progress
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
				return r
			}},
		{name: "ListPartitionReassignments", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrListPartitionReassignmentsRequest()
				r.TimeoutMillis = 30000
				return r
			}},
		{name: "DescribeAcls", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationDescribe)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDescribeACLsRequest()
				r.ResourceType = kmsg.ACLResourceTypeAny
				r.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
				r.Operation = kmsg.ACLOperationAny
				r.PermissionType = kmsg.ACLPermissionTypeAny
				return r
			}},
		{name: "CreateAcls", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrCreateACLsRequest()
				r.Creations = append(r.Creations, creation(topicACL("mx-other",
					kmsg.ACLOperationRead), kmsg.ACLResourcePatternTypeLiteral, "User:nobody",
					kmsg.ACLPermissionTypeAllow))
				return r
			}},
		{name: "DeleteAcls", denied: errClusterAuth,
			acls: []binding{clusterACL(kmsg.ACLOperationAlter)},
			req: func() kmsg.Request {
				r := kmsg.NewPtrDeleteACLsRequest()
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType = kmsg.ACLResourceTypeTopic
				f.ResourceName = str("mx-other")
				f.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
				f.Operation = kmsg.ACLOperationAny
				f.PermissionType = kmsg.ACLPermissionTypeAny
				r.Filters = append(r.Filters, f)
				return r
			}},
	}
}

func TestAclMatrix(t *testing.T) {
	admin, alice := matrixClients(t)
	defer admin.Close()
	defer alice.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := &matrix{t: t, ctx: ctx, admin: admin, alice: alice}
	m.clearACLs()
	producerID, producerEpoch := m.setup()
	only := os.Getenv("SLUICE_MATRIX_ONLY")
	for _, c := range matrixCases(producerID, producerEpoch) {
		if only != "" && !strings.Contains(c.name, only) {
			continue
		}
		c := c
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			sub := &matrix{t: t, ctx: ctx, admin: admin, alice: alice}
			sub.run(c)
		})
	}
	m.clearACLs()
}

// TestAclFetchSessionReauthorized: alice opens an incremental fetch session
// on a topic she may read; the next session request names no partition
// (KIP-227: the session carries it over). Once her Read is revoked, the
// carried-over partition answers TOPIC_AUTHORIZATION_FAILED and no records.
func TestAclFetchSessionReauthorized(t *testing.T) {
	admin, alice := matrixClients(t)
	defer admin.Close()
	defer alice.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := &matrix{t: t, ctx: ctx, admin: admin, alice: alice}
	m.clearACLs()
	m.setup()
	m.alter([]kmsg.CreateACLsRequestCreation{creation(topicACL(mxTopic, kmsg.ACLOperationRead),
		kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLPermissionTypeAllow)})
	fetch := func(sessionID, epoch int32, named bool) *kmsg.FetchResponse {
		r := kmsg.NewPtrFetchRequest()
		r.MaxBytes = 1 << 20
		r.SessionID = sessionID
		r.SessionEpoch = epoch
		if named {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = mxTopic
			p := kmsg.NewFetchRequestTopicPartition()
			p.PartitionMaxBytes = 1 << 20
			p.CurrentLeaderEpoch = -1
			ft.Partitions = append(ft.Partitions, p)
			r.Topics = append(r.Topics, ft)
		}
		return m.send(alice, r).(*kmsg.FetchResponse)
	}
	first := fetch(0, 0, true)
	if first.ErrorCode != 0 || first.SessionID == 0 {
		t.Fatalf("no session: error %d, session %d", first.ErrorCode, first.SessionID)
	}
	if len(first.Topics) != 1 || len(first.Topics[0].Partitions) != 1 ||
		first.Topics[0].Partitions[0].ErrorCode != 0 ||
		len(first.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("first fetch: codes %v, want records", codesOf(first))
	}
	// Revoke, then continue the session without naming the partition.
	m.clearACLs()
	res := admin.ProduceSync(ctx, &kgo.Record{Topic: mxTopic, Value: []byte("after revoke")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	next := fetch(first.SessionID, 1, false)
	if next.ErrorCode != 0 || len(next.Topics) != 1 || len(next.Topics[0].Partitions) != 1 {
		t.Fatalf("session fetch after revoke: error %d, topics %+v", next.ErrorCode, next.Topics)
	}
	p := next.Topics[0].Partitions[0]
	if p.ErrorCode != errTopicAuth || len(p.RecordBatches) != 0 {
		t.Fatalf("carried-over partition after revoke: error %d, %d record bytes", p.ErrorCode,
			len(p.RecordBatches))
	}
}
