package pgstore

import "github.com/ssogate/ssogate/internal/sqlstore"

// The queries of the hot paths, named as in the SQLite store.
const (
	qAccountIDByEmail = sqlstore.QAccountIDByEmail
	qInsertAccount    = sqlstore.QInsertAccount
	qCountMembership  = sqlstore.QCountMembership
	qInsertMember     = sqlstore.QInsertMember
	qMemberByID       = sqlstore.QMemberByID
	qInsertSession    = sqlstore.QInsertSession
	qDeleteSession    = sqlstore.QDeleteSession
	qInsertReplay     = sqlstore.QInsertReplay
	qMemberByEmail    = sqlstore.QMemberByEmail
	qDomainVerified   = sqlstore.QDomainVerified
	qIdentity         = sqlstore.QIdentity
	qIdentityTeams    = sqlstore.QIdentityTeams
	qInsertAudit      = sqlstore.QInsertAudit
	qReplaySeen       = sqlstore.QReplaySeen
	qSessionByID      = sqlstore.QSessionByID
)
