package scimserver

import "strings"

// Schema URIs (RFC 7643).
const (
	userSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	groupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	listSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	patchOpSchema    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	spConfigSchema   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	resTypeSchema    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// attrType is a SCIM attribute data type (RFC 7643 section 2.3).
type attrType string

const (
	typeString    attrType = "string"
	typeBoolean   attrType = "boolean"
	typeComplex   attrType = "complex"
	typeReference attrType = "reference"
	typeBinary    attrType = "binary"
)

// attribute describes one attribute the server accepts and stores. The
// same table drives input handling (canonical names, type coercion, which
// keys are kept) and the /Schemas answer, so that what is advertised is
// what is supported.
type attribute struct {
	Name        string
	Type        attrType
	MultiValued bool
	Required    bool
	CaseExact   bool
	ReadOnly    bool
	Unique      bool
	Description string
	Sub         []*attribute
	RefTypes    []string
	Canonical   []string
	// common marks the common attributes of RFC 7643 section 3.1, which a
	// schema resource does not list.
	common bool
}

// sub returns the sub-attribute named name (any case).
func (a *attribute) sub(name string) *attribute {
	return findAttr(a.Sub, name)
}

func findAttr(attrs []*attribute, name string) *attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// resourceSchema is a schema with its attributes.
type resourceSchema struct {
	ID          string
	Name        string
	Description string
	Attrs       []*attribute
}

func (s *resourceSchema) attr(name string) *attribute { return findAttr(s.Attrs, name) }

func str(name, desc string) *attribute {
	return &attribute{Name: name, Type: typeString, Description: desc}
}

// multi builds a multi-valued complex attribute with the usual value,
// display, type and primary sub-attributes.
func multi(name, desc string, valueType attrType, types ...string) *attribute {
	return &attribute{Name: name, Type: typeComplex, MultiValued: true, Description: desc, Sub: []*attribute{
		{Name: "value", Type: valueType, Description: "The value."},
		str("display", "A human-readable name, primarily used for display purposes."),
		{Name: "type", Type: typeString, Description: "A label indicating the attribute's function.", Canonical: types},
		{Name: "primary", Type: typeBoolean, Description: "Whether this is the preferred value; at most one value is primary."},
	}}
}

// userResourceSchema is the core User schema as far as this server goes.
// password, groups and roles are absent on purpose: a password is never
// stored, group membership is read through /Groups, and roles are not
// settable over SCIM (members get the role member). Such input is
// accepted and ignored.
var userResourceSchema = &resourceSchema{
	ID:          userSchema,
	Name:        "User",
	Description: "User Account",
	Attrs: []*attribute{
		{Name: "externalId", Type: typeString, CaseExact: true, common: true,
			Description: "An identifier for the user, defined by the provisioning client."},
		{Name: "userName", Type: typeString, Required: true, Unique: true,
			Description: "The user's email address: the unique identifier of the account. Its domain must be claimed and verified by the organization."},
		{Name: "name", Type: typeComplex, Required: true, Description: "The components of the user's real name.", Sub: []*attribute{
			str("formatted", "The full name, formatted for display."),
			{Name: "familyName", Type: typeString, Required: true, Description: "The family name."},
			{Name: "givenName", Type: typeString, Required: true, Description: "The given name."},
			str("middleName", "The middle name(s)."),
			str("honorificPrefix", "The honorific prefix(es)."),
			str("honorificSuffix", "The honorific suffix(es)."),
		}},
		str("displayName", "The name of the user, suitable for display."),
		str("nickName", "The casual way to address the user."),
		{Name: "profileUrl", Type: typeReference, RefTypes: []string{"external"}, Description: "A URI of the user's online profile."},
		str("title", "The user's title."),
		str("userType", "The relationship between the organization and the user."),
		str("preferredLanguage", "The user's preferred written or spoken language."),
		str("locale", "The user's default location for localization."),
		str("timezone", "The user's time zone, in IANA format."),
		{Name: "active", Type: typeBoolean, Description: "Whether the user may sign in; false deactivates the member and ends their sessions."},
		func() *attribute {
			a := multi("emails", "Email addresses; the primary one (else the work one, else the first) must be in a claimed domain.", typeString, "work", "home", "other")
			a.Required = true
			return a
		}(),
		multi("phoneNumbers", "Phone numbers.", typeString, "work", "home", "mobile", "fax", "pager", "other"),
		multi("ims", "Instant messaging addresses.", typeString),
		multi("photos", "URLs of photos of the user.", typeReference, "photo", "thumbnail"),
		{Name: "addresses", Type: typeComplex, MultiValued: true, Description: "Physical mailing addresses.", Sub: []*attribute{
			str("formatted", "The full mailing address."),
			str("streetAddress", "The street address."),
			str("locality", "The city or locality."),
			str("region", "The state or region."),
			str("postalCode", "The zip code or postal code."),
			str("country", "The country name."),
			{Name: "type", Type: typeString, Description: "A label indicating the address's function.", Canonical: []string{"work", "home", "other"}},
			{Name: "primary", Type: typeBoolean, Description: "Whether this is the preferred address."},
		}},
		multi("entitlements", "Entitlements of the user, kept as given.", typeString),
		multi("x509Certificates", "Certificates of the user.", typeBinary),
	},
}

// enterpriseResourceSchema is the enterprise User extension, kept as given.
var enterpriseResourceSchema = &resourceSchema{
	ID:          enterpriseSchema,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attrs: []*attribute{
		str("employeeNumber", "A numeric or alphanumeric identifier assigned to the person."),
		str("costCenter", "The name of a cost center."),
		str("organization", "The name of an organization."),
		str("division", "The name of a division."),
		str("department", "The name of a department."),
		{Name: "manager", Type: typeComplex, Description: "The user's manager.", Sub: []*attribute{
			{Name: "value", Type: typeString, Description: "The id of the manager's User."},
			{Name: "$ref", Type: typeReference, RefTypes: []string{"User"}, Description: "The URI of the manager's User."},
			{Name: "displayName", Type: typeString, Description: "The manager's display name."},
		}},
	},
}

// groupResourceSchema is the core Group schema: an org's team.
var groupResourceSchema = &resourceSchema{
	ID:          groupSchema,
	Name:        "Group",
	Description: "Group",
	Attrs: []*attribute{
		{Name: "externalId", Type: typeString, CaseExact: true, common: true,
			Description: "An identifier for the group, defined by the provisioning client."},
		{Name: "displayName", Type: typeString, Required: true, Unique: true,
			Description: "The team's name, unique in the organization regardless of case."},
		{Name: "members", Type: typeComplex, MultiValued: true, Description: "The users in the team.", Sub: []*attribute{
			{Name: "value", Type: typeString, CaseExact: true, Description: "The id of a User of the organization."},
			{Name: "$ref", Type: typeReference, RefTypes: []string{"User"}, ReadOnly: true, Description: "The URI of the User."},
			{Name: "type", Type: typeString, ReadOnly: true, Canonical: []string{"User"}, Description: "Always User: groups do not nest."},
			{Name: "display", Type: typeString, ReadOnly: true, Description: "Ignored on input."},
		}},
	},
}

// userExtensions are the schemas a User may carry besides the core one.
var userExtensions = []*resourceSchema{enterpriseResourceSchema}

// extensionSchema returns the User extension with this URI (any case).
func extensionSchema(uri string) *resourceSchema {
	for _, s := range userExtensions {
		if strings.EqualFold(s.ID, uri) {
			return s
		}
	}
	return nil
}

// ignoredUserAttrs are accepted on input and dropped, never an error:
// Okta sends password and groups:[] with every user, Entra sends roles:[].
var ignoredUserAttrs = []string{"password", "groups", "roles"}

// readOnlyAttrs are server-set on every resource; input values are ignored
// (Okta echoes them in PUT and puts id in its rename PATCH).
var readOnlyAttrs = []string{"id", "meta", "schemas"}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
