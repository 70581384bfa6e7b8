// cim_macro: memristor compute-in-memory macro with an AXI4-Lite slave.
//
//   cim_axil_slave  AXI4-Lite handshakes -> one request per edge (docs/arithmetic.md §5)
//   cim_regfile     registers, INBUF, access checks, errors, IRQ, counters, BUSY timing,
//                   command validation and issue, DBG_* backdoor
//   cim_array       behavioural crossbar tiles, device, read noise and ADCs, OUTBUF,
//                   SATBUF, READBUF (evaluates a command on its accept edge)
//
// Register map: spec/cim_macro.toml -> rtl/cim_regs.vh (generated).  Arithmetic:
// docs/arithmetic.md.  Parameter defaults are the TOML "default" preset; the "seed-chip"
// preset is NTiles = 4, Rows = 64, Cols = 64.
//
// Reset: rst_ni is an ASYNCHRONOUS, active-low reset throughout the macro (flops use
// "posedge clk_i or negedge rst_ni").  The first rising edge with rst_ni high is edge 0
// of CYCLE.  The memristor array (conductances, write counters) is not reset.
//
// The port list is non-ANSI so that the AXI address width comes from cim_regs.vh.
module cim_macro #(
  parameter int NTiles = 8,    // NTILES: crossbar tiles
  parameter int Rows   = 256,  // ROWS: rows (word lines) per tile, at most 256
  parameter int Cols   = 64    // COLS: columns (bit lines) per tile, at most 64
) (
  clk_i,
  rst_ni,
  s_axil_awaddr,
  s_axil_awprot,
  s_axil_awvalid,
  s_axil_awready,
  s_axil_wdata,
  s_axil_wstrb,
  s_axil_wvalid,
  s_axil_wready,
  s_axil_bresp,
  s_axil_bvalid,
  s_axil_bready,
  s_axil_araddr,
  s_axil_arprot,
  s_axil_arvalid,
  s_axil_arready,
  s_axil_rdata,
  s_axil_rresp,
  s_axil_rvalid,
  s_axil_rready,
  irq_o
);
  /* verilator lint_off UNUSEDPARAM */  // generated header: every module uses a subset
  `include "cim_regs.vh"
  /* verilator lint_on UNUSEDPARAM */

  localparam integer NumPairs    = NTiles * Rows * Cols;
  localparam integer PairBits    = $clog2(NumPairs);
  localparam integer InbufBits   = 32 * INBUF_WORDS;
  localparam integer BufWordBits = $clog2(INBUF_WORDS);

  // ---------------------------------------------------------------- ports
  input  wire                      clk_i;
  input  wire                      rst_ni;

  input  wire [CIM_ADDR_WIDTH-1:0] s_axil_awaddr;
  input  wire [2:0]                s_axil_awprot;
  input  wire                      s_axil_awvalid;
  output wire                      s_axil_awready;
  input  wire [31:0]               s_axil_wdata;
  input  wire [3:0]                s_axil_wstrb;
  input  wire                      s_axil_wvalid;
  output wire                      s_axil_wready;
  output wire [1:0]                s_axil_bresp;
  output wire                      s_axil_bvalid;
  input  wire                      s_axil_bready;
  input  wire [CIM_ADDR_WIDTH-1:0] s_axil_araddr;
  input  wire [2:0]                s_axil_arprot;
  input  wire                      s_axil_arvalid;
  output wire                      s_axil_arready;
  output wire [31:0]               s_axil_rdata;
  output wire [1:0]                s_axil_rresp;
  output wire                      s_axil_rvalid;
  input  wire                      s_axil_rready;

  output wire                      irq_o;

  // ---------------------------------------------------------------- bus -> requests
  wire                      req_valid;
  wire                      req_write;
  wire [CIM_ADDR_WIDTH-1:0] req_addr;
  wire [31:0]               req_wdata;
  wire [3:0]                req_wstrb;
  wire [31:0]               rsp_rdata;
  wire [1:0]                rsp_resp;

  cim_axil_slave u_axil (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .s_axil_awaddr  (s_axil_awaddr),
    .s_axil_awprot  (s_axil_awprot),
    .s_axil_awvalid (s_axil_awvalid),
    .s_axil_awready (s_axil_awready),
    .s_axil_wdata   (s_axil_wdata),
    .s_axil_wstrb   (s_axil_wstrb),
    .s_axil_wvalid  (s_axil_wvalid),
    .s_axil_wready  (s_axil_wready),
    .s_axil_bresp   (s_axil_bresp),
    .s_axil_bvalid  (s_axil_bvalid),
    .s_axil_bready  (s_axil_bready),
    .s_axil_araddr  (s_axil_araddr),
    .s_axil_arprot  (s_axil_arprot),
    .s_axil_arvalid (s_axil_arvalid),
    .s_axil_arready (s_axil_arready),
    .s_axil_rdata   (s_axil_rdata),
    .s_axil_rresp   (s_axil_rresp),
    .s_axil_rvalid  (s_axil_rvalid),
    .s_axil_rready  (s_axil_rready),
    .req_valid_o    (req_valid),
    .req_write_o    (req_write),
    .req_addr_o     (req_addr),
    .req_wdata_o    (req_wdata),
    .req_wstrb_o    (req_wstrb),
    .rsp_rdata_i    (rsp_rdata),
    .rsp_resp_i     (rsp_resp)
  );

  // ---------------------------------------------------------------- regfile <-> array
  wire                                 cmd_start;
  wire [CMD_OPCODE_WIDTH-1:0]          cmd_opcode;
  wire                                 cmd_signed;
  wire                                 cmd_pol;
  wire [31:0]                          op_index;
  wire [31:0]                          seed;
  wire [TILE_TILE_WIDTH-1:0]           tile;
  wire [ROW_START_ROW_WIDTH-1:0]       row_start;
  wire [ROW_COUNT_COUNT_WIDTH-1:0]     row_count;
  wire [COL_START_COL_WIDTH-1:0]       col_start;
  wire [COL_COUNT_COUNT_WIDTH-1:0]     col_count;
  wire [ADC_GAIN_GAIN_WIDTH-1:0]       adc_gain;
  wire [ADC_SHIFT_SHIFT_WIDTH-1:0]     adc_shift;
  wire [ADC_OFFSET_OFFSET_WIDTH-1:0]   adc_offset;
  wire [PULSE_ROW_ROW_WIDTH-1:0]       pulse_row;
  wire [PULSE_SET_AMP_MV_WIDTH-1:0]    pulse_set_amp;
  wire [PULSE_RESET_AMP_MV_WIDTH-1:0]  pulse_reset_amp;
  wire [PULSE_WIDTH_CYCLES_WIDTH-1:0]  pulse_width;
  wire [PULSE_COUNT_COUNT_WIDTH-1:0]   pulse_count;
  wire [63:0]                          pulse_set_mask;
  wire [63:0]                          pulse_reset_mask;
  wire [NOISE_READ_SIGMA_SIGMA_WIDTH-1:0]  sigma_read;
  wire [NOISE_PULSE_SIGMA_SIGMA_WIDTH-1:0] sigma_pulse;
  wire [NOISE_ADC_SIGMA_SIGMA_WIDTH-1:0]   sigma_adc;
  wire [STUCK_RATE_RATE_WIDTH-1:0]     stuck_rate;
  wire [InbufBits-1:0]                 inbuf;
  wire [BufWordBits-1:0]               buf_word;
  wire [31:0]                          outbuf_word;
  wire [31:0]                          satbuf_word;
  wire [31:0]                          readbuf_word;
  wire [SAT_COUNT_VALUE_WIDTH-1:0]     sat_count;
  wire [PairBits-1:0]                  dbg_pair;
  wire                                 dbg_we;
  wire [GCODE_BITS-1:0]                dbg_gp_wr;
  wire [GCODE_BITS-1:0]                dbg_gn_wr;
  wire [GCODE_BITS-1:0]                dbg_gp_rd;
  wire [GCODE_BITS-1:0]                dbg_gn_rd;
  wire [WC_BITS-1:0]                   dbg_wcp;
  wire [WC_BITS-1:0]                   dbg_wcn;

  cim_regfile #(
    .NTiles (NTiles),
    .Rows   (Rows),
    .Cols   (Cols)
  ) u_regfile (
    .clk_i              (clk_i),
    .rst_ni             (rst_ni),
    .req_valid_i        (req_valid),
    .req_write_i        (req_write),
    .req_addr_i         (req_addr),
    .req_wdata_i        (req_wdata),
    .req_wstrb_i        (req_wstrb),
    .rsp_rdata_o        (rsp_rdata),
    .rsp_resp_o         (rsp_resp),
    .irq_o              (irq_o),
    .cmd_start_o        (cmd_start),
    .cmd_opcode_o       (cmd_opcode),
    .cmd_signed_o       (cmd_signed),
    .cmd_pol_o          (cmd_pol),
    .op_index_o         (op_index),
    .seed_o             (seed),
    .tile_o             (tile),
    .row_start_o        (row_start),
    .row_count_o        (row_count),
    .col_start_o        (col_start),
    .col_count_o        (col_count),
    .adc_gain_o         (adc_gain),
    .adc_shift_o        (adc_shift),
    .adc_offset_o       (adc_offset),
    .pulse_row_o        (pulse_row),
    .pulse_set_amp_o    (pulse_set_amp),
    .pulse_reset_amp_o  (pulse_reset_amp),
    .pulse_width_o      (pulse_width),
    .pulse_count_o      (pulse_count),
    .pulse_set_mask_o   (pulse_set_mask),
    .pulse_reset_mask_o (pulse_reset_mask),
    .sigma_read_o       (sigma_read),
    .sigma_pulse_o      (sigma_pulse),
    .sigma_adc_o        (sigma_adc),
    .stuck_rate_o       (stuck_rate),
    .inbuf_o            (inbuf),
    .buf_word_o         (buf_word),
    .outbuf_word_i      (outbuf_word),
    .satbuf_word_i      (satbuf_word),
    .readbuf_word_i     (readbuf_word),
    .sat_count_i        (sat_count),
    .dbg_pair_o         (dbg_pair),
    .dbg_we_o           (dbg_we),
    .dbg_gp_o           (dbg_gp_wr),
    .dbg_gn_o           (dbg_gn_wr),
    .dbg_gp_i           (dbg_gp_rd),
    .dbg_gn_i           (dbg_gn_rd),
    .dbg_wcp_i          (dbg_wcp),
    .dbg_wcn_i          (dbg_wcn)
  );

  cim_array #(
    .NTiles (NTiles),
    .Rows   (Rows),
    .Cols   (Cols)
  ) u_array (
    .clk_i              (clk_i),
    .rst_ni             (rst_ni),
    .cmd_start_i        (cmd_start),
    .cmd_opcode_i       (cmd_opcode),
    .cmd_signed_i       (cmd_signed),
    .cmd_pol_i          (cmd_pol),
    .op_index_i         (op_index),
    .seed_i             (seed),
    .tile_i             (tile),
    .row_start_i        (row_start),
    .row_count_i        (row_count),
    .col_start_i        (col_start),
    .col_count_i        (col_count),
    .adc_gain_i         (adc_gain),
    .adc_shift_i        (adc_shift),
    .adc_offset_i       (adc_offset),
    .pulse_row_i        (pulse_row),
    .pulse_set_amp_i    (pulse_set_amp),
    .pulse_reset_amp_i  (pulse_reset_amp),
    .pulse_width_i      (pulse_width),
    .pulse_count_i      (pulse_count),
    .pulse_set_mask_i   (pulse_set_mask),
    .pulse_reset_mask_i (pulse_reset_mask),
    .sigma_read_i       (sigma_read),
    .sigma_pulse_i      (sigma_pulse),
    .sigma_adc_i        (sigma_adc),
    .stuck_rate_i       (stuck_rate),
    .inbuf_i            (inbuf),
    .buf_word_i         (buf_word),
    .outbuf_word_o      (outbuf_word),
    .satbuf_word_o      (satbuf_word),
    .readbuf_word_o     (readbuf_word),
    .sat_count_o        (sat_count),
    .dbg_pair_i         (dbg_pair),
    .dbg_we_i           (dbg_we),
    .dbg_gp_i           (dbg_gp_wr),
    .dbg_gn_i           (dbg_gn_wr),
    .dbg_gp_o           (dbg_gp_rd),
    .dbg_gn_o           (dbg_gn_rd),
    .dbg_wcp_o          (dbg_wcp),
    .dbg_wcn_o          (dbg_wcn)
  );

endmodule
